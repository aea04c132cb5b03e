//! Hand-rolled constraint checks, one per JSON Schema keyword we use.
//!
//! Each pattern function is the exact equivalent of the anchored regex in
//! the schema files (quoted above it), so the decoder needs no regex engine.
//! Lengths count Unicode code points, as JSON Schema `minLength` and
//! `maxLength` do.

use crate::error::SchemaError;

pub(crate) type Check = Result<(), SchemaError>;

/// `minLength: min, maxLength: max`.
pub(crate) fn length(field: &str, s: &str, min: usize, max: usize) -> Check {
    // A string has no more code points than bytes, and is non-empty exactly
    // when it has a byte, so the usual cases need no character walk.
    let too_short = if min <= 1 {
        s.len() < min
    } else {
        s.chars().count() < min
    };
    let too_long = s.len() > max && s.chars().count() > max;
    if too_short {
        Err(SchemaError::validate(
            field,
            format!("must be at least {min} characters"),
        ))
    } else if too_long {
        Err(SchemaError::validate(
            field,
            format!("must be at most {max} characters"),
        ))
    } else {
        Ok(())
    }
}

/// Optional variant of [`length`].
pub(crate) fn opt_length(field: &str, s: Option<&str>, min: usize, max: usize) -> Check {
    s.map_or(Ok(()), |s| length(field, s, min, max))
}

/// `enum: [...]` over strings.
pub(crate) fn one_of(field: &str, s: &str, allowed: &[&str]) -> Check {
    if allowed.contains(&s) {
        Ok(())
    } else {
        Err(SchemaError::validate(
            field,
            format!("`{s}` is not one of {allowed:?}"),
        ))
    }
}

/// `minimum: min, maximum: max` over numbers.
pub(crate) fn range(field: &str, v: f64, min: f64, max: f64) -> Check {
    if (min..=max).contains(&v) {
        Ok(())
    } else {
        Err(SchemaError::validate(
            field,
            format!("{v} is outside {min}..={max}"),
        ))
    }
}

/// `pattern` via a predicate; `shape` is the regex, echoed in the reason.
pub(crate) fn pattern(field: &str, s: &str, ok: fn(&str) -> bool, shape: &str) -> Check {
    if ok(s) {
        Ok(())
    } else {
        Err(SchemaError::validate(
            field,
            format!("`{s}` does not match {shape}"),
        ))
    }
}

pub(crate) const LSOA: &str = "^[EW]01[0-9]{6}$";
/// `^[EW]01[0-9]{6}$` (2011/2021 LSOA codes for England and Wales).
pub(crate) fn is_lsoa(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 9
        && matches!(b[0], b'E' | b'W')
        && b[1] == b'0'
        && b[2] == b'1'
        && b[3..].iter().all(u8::is_ascii_digit)
}

pub(crate) const SLUG: &str = "^[a-z][a-z0-9_]{0,49}$";
/// `^[a-z][a-z0-9_]{0,49}$` (premises types, sectors).
pub(crate) fn is_slug(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=50).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

pub(crate) const OFFENCE_CODE: &str = "^[0-9]{1,3}[A-Z]{0,2}$|^[A-Z]{2,4}$";
/// `^[0-9]{1,3}[A-Z]{0,2}$|^[A-Z]{2,4}$` (Home Office offence codes).
pub(crate) fn is_offence_code(s: &str) -> bool {
    let b = s.as_bytes();
    let d = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let rest = &b[d..];
    let upper = rest.iter().all(u8::is_ascii_uppercase);
    match d {
        0 => upper && (2..=4).contains(&rest.len()),
        1..=3 => upper && rest.len() <= 2,
        _ => false,
    }
}

pub(crate) const FRAUD_CODE: &str = "^[A-Z0-9]{2,12}$";
/// `^[A-Z0-9]{2,12}$` (NFIB-style codes; deliberately an open set).
pub(crate) fn is_fraud_code(s: &str) -> bool {
    (2..=12).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

pub(crate) const POSTCODE_DISTRICT: &str = "^[A-Z]{1,2}[0-9][0-9A-Z]?$";
/// `^[A-Z]{1,2}[0-9][0-9A-Z]?$` (outward code, e.g. `M1`, `SW1A`, `LS11`).
pub(crate) fn is_postcode_district(s: &str) -> bool {
    let b = s.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    if !(1..=2).contains(&letters) {
        return false;
    }
    match &b[letters..] {
        [d] => d.is_ascii_digit(),
        [d, x] => d.is_ascii_digit() && (x.is_ascii_digit() || x.is_ascii_uppercase()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_code_points() {
        assert!(length("/f", "é", 1, 1).is_ok());
        assert!(length("/f", "🦀🦀", 1, 2).is_ok());
        assert!(length("/f", "🦀🦀🦀", 1, 2).is_err());
        assert!(length("/f", "", 1, 2).is_err());
        assert!(length("/f", "abc", 0, 2).is_err());
        assert!(length("/f", &"é".repeat(200), 1, 200).is_ok());
        assert!(length("/f", &"é".repeat(201), 1, 200).is_err());
    }

    #[test]
    fn lsoa() {
        assert!(is_lsoa("E01000001"));
        assert!(is_lsoa("W01001234"));
        for bad in [
            "S01000001",
            "E0100000",
            "E010000011",
            "E02000001",
            "e01000001",
            "E01 00001",
            "E01٠00001",
        ] {
            assert!(!is_lsoa(bad), "{bad}");
        }
    }

    #[test]
    fn slug() {
        assert!(is_slug("a"));
        assert!(is_slug("licensed_premises"));
        assert!(is_slug("retail_non_food2"));
        assert!(is_slug(&format!("a{}", "b".repeat(49))));
        for bad in [
            "",
            "_shop",
            "1shop",
            "Shop",
            "car-park",
            "car park",
            &format!("a{}", "b".repeat(50)),
        ] {
            assert!(!is_slug(bad), "{bad}");
        }
    }

    #[test]
    fn offence_code() {
        for good in ["28E", "8N", "105A", "1", "999", "12AB", "AB", "MISC", "NFR"] {
            assert!(is_offence_code(good), "{good}");
        }
        for bad in [
            "", "1234", "12ABC", "A", "ABCDE", "28e", "A1", "1A2", "-1", " 28E",
        ] {
            assert!(!is_offence_code(bad), "{bad}");
        }
    }

    #[test]
    fn fraud_code() {
        for good in ["NFIB3A", "NFIB52C", "NFIB99Z", "AB", "123456789012"] {
            assert!(is_fraud_code(good), "{good}");
        }
        for bad in ["", "A", "nfib3a", "NFIB-3A", "1234567890123", "NFIB 3A"] {
            assert!(!is_fraud_code(bad), "{bad}");
        }
    }

    #[test]
    fn postcode_district() {
        for good in ["M1", "LS11", "SW1A", "B5", "EC1V", "W1A", "M60"] {
            assert!(is_postcode_district(good), "{good}");
        }
        for bad in [
            "", "M", "1M", "ABC1", "M1 1AE", "m1", "LS111", "SW1a", "M1-",
        ] {
            assert!(!is_postcode_district(bad), "{bad}");
        }
    }

    #[test]
    fn ranges_are_inclusive() {
        assert!(range("/lat", 90.0, -90.0, 90.0).is_ok());
        assert!(range("/lat", -90.0, -90.0, 90.0).is_ok());
        assert!(range("/lat", 90.000_001, -90.0, 90.0).is_err());
    }
}
