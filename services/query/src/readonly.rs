//! The read-only rule: which statements a client may run at all.
//!
//! Every statement is parsed with DataFusion's own parser (same dialect and recursion limit as the
//! session) and refused with [`QueryError::ReadOnly`] unless it is exactly one plain query, or
//! `EXPLAIN` of one. Nested data-modifying statements (`WITH .. INSERT`) and `SELECT .. INTO`
//! are refused too. Plans are then checked again with [`sql_options`], so anything the parse
//! missed still fails before it runs.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    ObjectName, Select, Statement as SqlStatement, Visit, Visitor,
};
use datafusion::sql::sqlparser::dialect::dialect_from_str;

use crate::QueryError;

/// Planner options that forbid DDL, DML and other statements: the second line of defence.
pub fn sql_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Parses `sql` exactly as `ctx` will and returns its one statement if it is read-only.
pub fn parse_read_only(ctx: &SessionContext, sql: &str) -> Result<DfStatement, QueryError> {
    let config = ctx.copied_config();
    let parser_options = &config.options().sql_parser;
    let dialect = dialect_from_str(parser_options.dialect).ok_or_else(|| {
        QueryError::Plan(DataFusionError::Plan(format!(
            "unsupported SQL dialect {}",
            parser_options.dialect
        )))
    })?;
    let mut statements = DFParserBuilder::new(sql)
        .with_dialect(dialect.as_ref())
        .with_recursion_limit(parser_options.recursion_limit.get())
        .build()
        .and_then(|mut parser| parser.parse_statements())
        .map_err(QueryError::Plan)?;
    let statement = match statements.len() {
        0 => return Err(QueryError::Empty),
        1 => statements.pop_front().expect("one statement"),
        _ => return Err(read_only("multiple")),
    };
    check_statement(&statement)?;
    Ok(statement)
}

/// The last part of every table name a statement mentions (`FROM public.t` gives `t`),
/// lower-cased unless quoted, as DataFusion resolves them. CTE names are included: a CTE that
/// shadows a table name is treated as that table, which errs on the side of refusing.
pub fn referenced_tables(statement: &DfStatement) -> BTreeSet<String> {
    struct Relations(BTreeSet<String>);
    impl Visitor for Relations {
        type Break = ();
        fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
            if let Some(ident) = relation.0.last().and_then(|part| part.as_ident()) {
                let name = if ident.quote_style.is_some() {
                    ident.value.clone()
                } else {
                    ident.value.to_ascii_lowercase()
                };
                self.0.insert(name);
            }
            ControlFlow::Continue(())
        }
    }
    let mut relations = Relations(BTreeSet::new());
    match statement {
        DfStatement::Statement(inner) => {
            let _ = inner.visit(&mut relations);
        }
        DfStatement::Explain(explain) => return referenced_tables(&explain.statement),
        _ => {}
    }
    relations.0
}

fn read_only(kind: impl Into<String>) -> QueryError {
    QueryError::ReadOnly {
        statement_kind: kind.into(),
    }
}

/// Accepts a plain query or `EXPLAIN` of one; names the kind of anything else.
pub fn check_statement(statement: &DfStatement) -> Result<(), QueryError> {
    match statement {
        DfStatement::Statement(inner) => match inner.as_ref() {
            SqlStatement::Query(query) => check_query(query),
            other => Err(read_only(sql_statement_kind(other))),
        },
        DfStatement::Explain(explain) => check_statement(&explain.statement).map_err(|e| match e {
            QueryError::ReadOnly { statement_kind } => {
                read_only(format!("EXPLAIN {statement_kind}"))
            }
            other => other,
        }),
        DfStatement::CreateExternalTable(_) => Err(read_only("CREATE EXTERNAL TABLE")),
        DfStatement::CopyTo(_) => Err(read_only("COPY")),
        DfStatement::Reset(_) => Err(read_only("RESET")),
    }
}

/// Walks a query for anything that writes: a nested statement (`WITH x AS (..) INSERT ..`,
/// Postgres-style data-modifying CTEs) or `SELECT .. INTO new_table`.
fn check_query(query: &impl Visit) -> Result<(), QueryError> {
    struct Writes;
    impl Visitor for Writes {
        type Break = String;

        fn pre_visit_statement(&mut self, statement: &SqlStatement) -> ControlFlow<String> {
            ControlFlow::Break(sql_statement_kind(statement))
        }

        fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<String> {
            if select.into.is_some() {
                ControlFlow::Break("SELECT INTO".to_string())
            } else {
                ControlFlow::Continue(())
            }
        }
    }
    match query.visit(&mut Writes) {
        ControlFlow::Break(kind) => Err(read_only(kind)),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// A short name for a statement's kind, e.g. `INSERT`, `CREATE VIEW`, `DROP TABLE`.
fn sql_statement_kind(statement: &SqlStatement) -> String {
    let fixed = match statement {
        SqlStatement::Query(_) => "query",
        SqlStatement::Insert(_) => "INSERT",
        SqlStatement::Update(_) => "UPDATE",
        SqlStatement::Delete(_) => "DELETE",
        SqlStatement::Merge(_) => "MERGE",
        SqlStatement::Truncate(_) => "TRUNCATE",
        SqlStatement::Copy { .. } => "COPY",
        SqlStatement::Set(_) => "SET",
        SqlStatement::Reset(_) => "RESET",
        SqlStatement::CreateTable(_) => "CREATE TABLE",
        SqlStatement::CreateView(_) => "CREATE VIEW",
        SqlStatement::CreateSchema { .. } => "CREATE SCHEMA",
        SqlStatement::CreateDatabase { .. } => "CREATE DATABASE",
        SqlStatement::CreateFunction(_) => "CREATE FUNCTION",
        SqlStatement::CreateIndex(_) => "CREATE INDEX",
        SqlStatement::AlterTable(_) => "ALTER TABLE",
        SqlStatement::Drop { object_type, .. } => return format!("DROP {object_type}"),
        SqlStatement::DropFunction(_) => "DROP FUNCTION",
        SqlStatement::Explain { .. } => "EXPLAIN",
        SqlStatement::ExplainTable { .. } => "DESCRIBE",
        SqlStatement::Prepare { .. } => "PREPARE",
        SqlStatement::Execute { .. } => "EXECUTE",
        SqlStatement::Deallocate { .. } => "DEALLOCATE",
        SqlStatement::StartTransaction { .. } => "BEGIN",
        SqlStatement::Commit { .. } => "COMMIT",
        SqlStatement::Rollback { .. } => "ROLLBACK",
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.to_string();
    }
    // Anything else: its leading keyword as printed, e.g. `SHOW`, `GRANT`, `VACUUM`.
    statement
        .to_string()
        .split_whitespace()
        .next()
        .map(str::to_ascii_uppercase)
        .unwrap_or_else(|| "unknown".to_string())
}
