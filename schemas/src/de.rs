//! Small serde helpers that make decoding agree with the JSON Schemas.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

/// For optional fields the schemas do NOT mark nullable: absent is fine,
/// but `null` must be rejected as a wrong type (plain `Option<T>` would
/// silently accept it). Use with `#[serde(default, deserialize_with = ...)]`.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A derived struct decoder also accepts a JSON *array* (fields by position),
/// which the schemas reject. Wrapping the deserializer so that structs are
/// requested as maps makes serde_json refuse arrays with a type error.
pub(crate) struct ObjectOnly<D>(pub(crate) D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// Required struct member: must be a JSON object.
pub(crate) fn object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(ObjectOnly(d))
}

/// Optional, non-nullable struct member: absent is fine, `null` and arrays
/// are not.
pub(crate) fn present_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    object(d).map(Some)
}

/// Optional, nullable struct member: absent or `null` is `None`.
pub(crate) fn nullable_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_option(NullableObject(PhantomData))
}

struct NullableObject<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for NullableObject<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        object(d).map(Some)
    }
}

/// JSON Schema `integer` accepts `3.0` as well as `3`; serde's `u64` would
/// not. Negative numbers are a shape error here (the field is a count).
pub(crate) fn integer_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_u64(IntegerVisitor)
}

pub(crate) fn integer_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = integer_u64(d)?;
    u32::try_from(n).map_err(|_| de::Error::custom(format_args!("integer {n} is too large")))
}

struct IntegerVisitor;

impl Visitor<'_> for IntegerVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative integer")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        // 2^64 as f64; anything at or above it does not fit.
        const LIMIT: f64 = 18_446_744_073_709_551_616.0;
        if v.fract() == 0.0 && (0.0..LIMIT).contains(&v) {
            // Exact: v is integral and in range.
            Ok(v as u64)
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug, PartialEq)]
    struct N {
        #[serde(deserialize_with = "integer_u64")]
        n: u64,
        #[serde(default, deserialize_with = "present")]
        s: Option<String>,
    }

    #[derive(Deserialize, Debug, PartialEq, Default)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        a: Option<u8>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Outer {
        #[serde(default, deserialize_with = "nullable_object")]
        nullable: Option<Inner>,
        #[serde(default, deserialize_with = "present_object")]
        optional: Option<Inner>,
    }

    #[test]
    fn structs_must_be_objects_not_arrays() {
        // The derived decoder alone would take `[]` / `[1]` positionally.
        assert_eq!(
            serde_json::from_str::<Inner>("[1]").expect("positional"),
            Inner { a: Some(1) }
        );
        assert!(object::<_, Inner>(&mut serde_json::Deserializer::from_str("[1]")).is_err());
        assert!(object::<_, Inner>(&mut serde_json::Deserializer::from_str("[]")).is_err());
        assert!(object::<_, Inner>(&mut serde_json::Deserializer::from_str(r#"{"a":1}"#)).is_ok());

        let o: Outer = serde_json::from_str(r#"{"nullable": null}"#).expect("null ok");
        assert_eq!(
            o,
            Outer {
                nullable: None,
                optional: None
            }
        );
        let o: Outer =
            serde_json::from_str(r#"{"nullable": {}, "optional": {"a": 2}}"#).expect("objects ok");
        assert_eq!(
            o,
            Outer {
                nullable: Some(Inner::default()),
                optional: Some(Inner { a: Some(2) })
            }
        );
        assert!(serde_json::from_str::<Outer>(r#"{"nullable": []}"#).is_err());
        assert!(serde_json::from_str::<Outer>(r#"{"optional": []}"#).is_err());
        assert!(serde_json::from_str::<Outer>(r#"{"optional": null}"#).is_err());
    }

    #[test]
    fn integral_floats_are_integers() {
        let v: N = serde_json::from_str(r#"{"n": 2.0}"#).expect("valid");
        assert_eq!(v.n, 2);
        assert!(serde_json::from_str::<N>(r#"{"n": 2.5}"#).is_err());
        assert!(serde_json::from_str::<N>(r#"{"n": -1}"#).is_err());
        assert!(serde_json::from_str::<N>(r#"{"n": "1"}"#).is_err());
    }

    #[test]
    fn present_rejects_null_but_allows_absent() {
        let v: N = serde_json::from_str(r#"{"n": 1}"#).expect("valid");
        assert_eq!(v.s, None);
        let v: N = serde_json::from_str(r#"{"n": 1, "s": "x"}"#).expect("valid");
        assert_eq!(v.s.as_deref(), Some("x"));
        assert!(serde_json::from_str::<N>(r#"{"n": 1, "s": null}"#).is_err());
    }
}
