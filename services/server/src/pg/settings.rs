//! The server settings a PostgreSQL client reads (`SHOW x`, `current_setting('x')`), and the
//! catalog helpers Grafana's PostgreSQL data source calls when it lists tables and columns.
//!
//! Lantern's settings are fixed: a client may not change them (`SET` is refused, apart from the
//! harmless client-side ones drivers send on connect), so one table answers both `SHOW` and
//! `current_setting`. The only schema is `public`, so the search path is `public`.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ListBuilder, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field};
use datafusion::common::{DataFusionError, Result, ScalarValue, cast::as_string_array};
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// The value of a fixed server setting, or `None` for a name PostgreSQL would not recognise.
/// `application_name` is the client's own and is answered by the caller.
pub fn setting(name: &str) -> Option<&'static str> {
    Some(match name {
        "server_version" => "16.6 (Lantern)",
        // Clients compare this number to enable features (Grafana: `/ 100` gives 1606).
        "server_version_num" => "160006",
        "server_encoding" | "client_encoding" => "UTF8",
        "datestyle" => "ISO, MDY",
        "intervalstyle" => "postgres",
        "timezone" => "UTC",
        "transaction_isolation" | "default_transaction_isolation" => "read committed",
        "transaction_read_only" | "default_transaction_read_only" => "on",
        "standard_conforming_strings" | "integer_datetimes" => "on",
        "is_superuser" => "off",
        "search_path" => "public",
        "max_identifier_length" => "63",
        _ => return None,
    })
}

/// The error PostgreSQL gives for an unknown setting.
pub fn unrecognized(name: &str) -> DataFusionError {
    DataFusionError::Plan(format!("unrecognized configuration parameter \"{name}\""))
}

/// Registers `current_setting(name)` and `parse_ident(text)` on a connection's context.
pub fn register_functions(context: &SessionContext) {
    context.register_udf(create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(current_setting),
    ));
    context.register_udf(create_udf(
        "parse_ident",
        vec![DataType::Utf8],
        DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
        Volatility::Immutable,
        Arc::new(parse_ident),
    ));
}

fn current_setting(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let names = single_string_argument("current_setting", args)?;
    let values = names
        .iter()
        .map(|name| {
            name.map(|name| setting(&name.to_ascii_lowercase()).ok_or_else(|| unrecognized(name)))
                .transpose()
        })
        .collect::<Result<StringArray>>()?;
    as_columnar(args, Arc::new(values))
}

fn parse_ident(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let texts = single_string_argument("parse_ident", args)?;
    let mut lists = ListBuilder::new(StringBuilder::new());
    for text in texts.iter() {
        match text {
            Some(text) => {
                for part in identifier_parts(text) {
                    lists.values().append_value(part);
                }
                lists.append(true);
            }
            None => lists.append(false),
        }
    }
    as_columnar(args, Arc::new(lists.finish()))
}

fn single_string_argument(function: &str, args: &[ColumnarValue]) -> Result<StringArray> {
    let [arg] = args else {
        return Err(DataFusionError::Plan(format!(
            "{function} takes one text argument"
        )));
    };
    let array = arg.to_array(1)?;
    Ok(as_string_array(&array)?.clone())
}

/// A scalar result for a scalar argument (one row), an array otherwise.
fn as_columnar(args: &[ColumnarValue], values: ArrayRef) -> Result<ColumnarValue> {
    Ok(match args.first() {
        Some(ColumnarValue::Scalar(_)) if values.len() == 1 => {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&values, 0)?)
        }
        _ => ColumnarValue::Array(values),
    })
}

/// `schema."Table"` → `["schema", "Table"]`: dot-separated names, double quotes keep case and
/// dots, unquoted names fold to lower case (PostgreSQL's `parse_ident`).
fn identifier_parts(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                current.push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut current)),
            c if quoted => current.push(c),
            c => current.extend(c.to_lowercase()),
        }
    }
    parts.push(current);
    parts
}

/// Grafana's query editor asks which schemas are on the search path with a subquery that splits
/// `current_setting('search_path')` and maps `"$user"` to the user. Lantern's search path is
/// fixed, so the subquery is replaced by its answer, `'public'`, before the statement is parsed.
/// (datafusion-pg-catalog would replace it by `''`, which matches no schema: Grafana would then
/// list every table schema-qualified and find no columns.)
pub fn answer_search_path_subquery(sql: &str) -> Cow<'_, str> {
    const SUBQUERY: &str = r#"SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
        FROM generate_series(
            array_lower(string_to_array(current_setting('search_path'),','),1),
            array_upper(string_to_array(current_setting('search_path'),','),1)
        ) as i, string_to_array(current_setting('search_path'),',') s"#;
    if !sql.contains("search_path") {
        return Cow::Borrowed(sql);
    }
    let (Some(pattern), Some(tokens)) = (significant_tokens(SUBQUERY), tokenize(sql)) else {
        return Cow::Borrowed(sql);
    };
    let mut out = String::with_capacity(sql.len());
    let mut replaced = false;
    let mut i = 0;
    while i < tokens.len() {
        if let Some(end) = match_at(&tokens, i, &pattern) {
            out.push_str("'public'");
            replaced = true;
            i = end;
        } else {
            out.push_str(&tokens[i].to_string());
            i += 1;
        }
    }
    if replaced {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(sql)
    }
}

fn tokenize(sql: &str) -> Option<Vec<Token>> {
    Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()
}

fn significant_tokens(sql: &str) -> Option<Vec<Token>> {
    Some(
        tokenize(sql)?
            .into_iter()
            .filter(|t| !matches!(t, Token::Whitespace(_)))
            .collect(),
    )
}

/// Where `pattern` (no whitespace) matches `tokens` from `start`, skipping whitespace and
/// ignoring keyword case: the index just past the match.
fn match_at(tokens: &[Token], start: usize, pattern: &[Token]) -> Option<usize> {
    let mut i = start;
    for expected in pattern {
        while matches!(tokens.get(i)?, Token::Whitespace(_)) {
            if i == start {
                return None;
            }
            i += 1;
        }
        if !same_token(&tokens[i], expected) {
            return None;
        }
        i += 1;
    }
    Some(i)
}

fn same_token(a: &Token, b: &Token) -> bool {
    match (a, b) {
        (Token::Word(a), Token::Word(b)) => {
            a.quote_style == b.quote_style && a.value.eq_ignore_ascii_case(&b.value)
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grafana_search_path_subquery_is_answered_with_public() {
        let sql = "SELECT quote_ident(table_name) FROM information_schema.tables WHERE quote_ident(table_schema) IN (\n  SELECT\n    CASE WHEN trim(s[i]) = '\"$user\"' THEN user ELSE trim(s[i]) END\n  FROM\n    generate_series(\n      array_lower(string_to_array(current_setting('search_path'),','),1),\n      array_upper(string_to_array(current_setting('search_path'),','),1)\n    ) as i,\n    string_to_array(current_setting('search_path'),',') s\n  )";
        assert_eq!(
            answer_search_path_subquery(sql),
            "SELECT quote_ident(table_name) FROM information_schema.tables WHERE quote_ident(table_schema) IN (\n  'public'\n  )"
        );
        let untouched = "SELECT current_setting('search_path')";
        assert!(matches!(
            answer_search_path_subquery(untouched),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn identifiers_split_like_postgres() {
        assert_eq!(
            identifier_parts("public.Incidents"),
            ["public", "incidents"]
        );
        assert_eq!(identifier_parts("\"My.Schema\".t"), ["My.Schema", "t"]);
        assert_eq!(identifier_parts("\"a\"\"b\""), ["a\"b"]);
        assert_eq!(identifier_parts("incidents_monthly"), ["incidents_monthly"]);
    }
}
