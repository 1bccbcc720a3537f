//! Typed custom headers: structs that map to and from `extFields` the way Java's
//! `CommandCustomHeader` reflection does.
//!
//! Values are strings on the wire. Reading follows Java: a boolean is true only for a
//! case-insensitive "true" (so the "1"/"0" some C++ clients send read as false, exactly as
//! on the Java broker); unknown fields are ignored; a missing required (`@CFNotNull`) field
//! is an error the caller turns into a response. A malformed optional number is ignored
//! (Java logs it and keeps the default); a malformed required one is an error, since Java
//! would fail on it a moment later anyway.

use thiserror::Error;

use crate::ext_fields::ExtFields;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HeaderError {
    /// Worded as Java's `RemotingCommandException`, which clients show to users.
    #[error("the custom field <{0}> is null")]
    Missing(&'static str),
    #[error("the custom field <{field}> has an invalid value {value:?}")]
    Invalid { field: &'static str, value: String },
}

/// A struct carried in `extFields`.
pub trait CommandHeader: Sized {
    fn from_ext(ext: Option<&ExtFields>) -> Result<Self, HeaderError>;
    fn write_ext(&self, ext: &mut ExtFields);
}

/// One header field's string conversion.
pub trait HeaderValue: Sized {
    fn parse_value(s: &str) -> Option<Self>;
    fn write_value(&self, key: &'static str, ext: &mut ExtFields);
}

impl HeaderValue for String {
    fn parse_value(s: &str) -> Option<Self> {
        Some(s.to_owned())
    }
    fn write_value(&self, key: &'static str, ext: &mut ExtFields) {
        ext.insert(key, self.as_str());
    }
}

impl HeaderValue for bool {
    fn parse_value(s: &str) -> Option<Self> {
        Some(s.trim().eq_ignore_ascii_case("true"))
    }
    fn write_value(&self, key: &'static str, ext: &mut ExtFields) {
        ext.insert(key, if *self { "true" } else { "false" });
    }
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl HeaderValue for $t {
            fn parse_value(s: &str) -> Option<Self> {
                s.trim().parse().ok()
            }
            fn write_value(&self, key: &'static str, ext: &mut ExtFields) {
                ext.insert(key, self.to_string());
            }
        }
    )*};
}
int_value!(i32, i64, f64);

impl<T: HeaderValue> HeaderValue for Option<T> {
    fn parse_value(s: &str) -> Option<Self> {
        T::parse_value(s).map(Some)
    }
    fn write_value(&self, key: &'static str, ext: &mut ExtFields) {
        if let Some(v) = self {
            v.write_value(key, ext);
        }
    }
}

#[doc(hidden)]
pub fn read_required<T: HeaderValue>(
    ext: Option<&ExtFields>,
    key: &'static str,
) -> Result<T, HeaderError> {
    let raw = ext
        .and_then(|e| e.get(key))
        .ok_or(HeaderError::Missing(key))?;
    T::parse_value(raw).ok_or_else(|| HeaderError::Invalid {
        field: key,
        value: raw.to_owned(),
    })
}

#[doc(hidden)]
pub fn read_optional<T: HeaderValue + Default>(ext: Option<&ExtFields>, key: &'static str) -> T {
    match ext.and_then(|e| e.get(key)) {
        Some(raw) => T::parse_value(raw).unwrap_or_else(|| {
            tracing::debug!(field = key, value = raw, "ignoring malformed header field");
            T::default()
        }),
        None => T::default(),
    }
}

/// Declare a custom header struct. Each field is `required` (Java `@CFNotNull`) or
/// `optional`, with its wire name:
///
/// ```
/// rmqd_remoting::command_header! {
///     pub struct Example {
///         required topic: String = "topic",
///         optional queue_id: Option<i32> = "queueId",
///     }
/// }
/// ```
#[macro_export]
macro_rules! command_header {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $kind:ident $field:ident : $ty:ty = $key:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        $vis struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::CommandHeader for $name {
            fn from_ext(
                ext: ::std::option::Option<&$crate::ExtFields>,
            ) -> ::std::result::Result<Self, $crate::HeaderError> {
                ::std::result::Result::Ok(Self {
                    $( $field: $crate::command_header!(@read $kind, ext, $key), )*
                })
            }

            fn write_ext(&self, ext: &mut $crate::ExtFields) {
                $( $crate::HeaderValue::write_value(&self.$field, $key, ext); )*
            }
        }
    };
    (@read required, $ext:ident, $key:literal) => {
        $crate::custom_header::read_required($ext, $key)?
    };
    (@read optional, $ext:ident, $key:literal) => {
        $crate::custom_header::read_optional($ext, $key)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    command_header! {
        struct Sample {
            required topic: String = "topic",
            required queue_id: i32 = "queueId",
            optional unit_mode: bool = "unitMode",
            optional max: Option<i64> = "maxReconsumeTimes",
        }
    }

    fn ext(pairs: &[(&str, &str)]) -> ExtFields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_like_java() {
        let e = ext(&[
            ("topic", "T"),
            ("queueId", "3"),
            ("unitMode", "1"),
            ("maxReconsumeTimes", "x"),
            ("AccessKey", ""),
        ]);
        let h = Sample::from_ext(Some(&e)).unwrap();
        assert_eq!(h.topic, "T");
        assert_eq!(h.queue_id, 3);
        assert!(!h.unit_mode, "\"1\" is not \"true\" to Java");
        assert_eq!(h.max, None);
        let e = ext(&[("topic", "T"), ("queueId", "3"), ("unitMode", "TRUE")]);
        assert!(Sample::from_ext(Some(&e)).unwrap().unit_mode);
    }

    #[test]
    fn missing_and_invalid_required_fields() {
        let e = ext(&[("topic", "T")]);
        assert_eq!(
            Sample::from_ext(Some(&e)),
            Err(HeaderError::Missing("queueId"))
        );
        assert_eq!(
            HeaderError::Missing("queueId").to_string(),
            "the custom field <queueId> is null"
        );
        let e = ext(&[("topic", "T"), ("queueId", "q")]);
        assert!(matches!(
            Sample::from_ext(Some(&e)),
            Err(HeaderError::Invalid { .. })
        ));
        assert!(Sample::from_ext(None).is_err());
    }

    #[test]
    fn writes_only_present_values() {
        let h = Sample {
            topic: "T".into(),
            queue_id: 1,
            unit_mode: false,
            max: None,
        };
        let mut e = ExtFields::new();
        h.write_ext(&mut e);
        assert_eq!(e.get("queueId"), Some("1"));
        assert_eq!(e.get("unitMode"), Some("false"));
        assert_eq!(e.get("maxReconsumeTimes"), None);
        assert_eq!(Sample::from_ext(Some(&e)).unwrap(), h);
    }
}
