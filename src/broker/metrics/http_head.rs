//! The request line of an HTTP/1.1 request head, read from untrusted bytes (the metrics
//! endpoint's only parser). Kept free of other modules so the fuzz crate compiles it too.

use thiserror::Error;

/// Longest request head read; a scrape's is a few hundred bytes.
pub const MAX_HEAD: usize = 8 * 1024;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HttpError {
    #[error("request head longer than {MAX_HEAD} bytes")]
    TooLong,
    #[error("malformed request line")]
    BadRequestLine,
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
}

/// The request line of a complete head (`None` while the head is not complete).
pub fn parse_head(buf: &[u8]) -> Result<Option<Request<'_>>, HttpError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() >= MAX_HEAD {
            Err(HttpError::TooLong)
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| HttpError::BadRequestLine)?;
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadRequestLine);
    };
    if method.is_empty() || !version.starts_with("HTTP/1.") {
        return Err(HttpError::BadRequestLine);
    }
    let path = target.split('?').next().unwrap_or_default();
    Ok(Some(Request { method, path }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
            Ok(Some(Request {
                method: "GET",
                path: "/metrics"
            }))
        );
        assert_eq!(parse_head(b"GET /metrics HTTP/1.1\r\nHost"), Ok(None));
        assert_eq!(
            parse_head(b"GET /metrics\r\n\r\n"),
            Err(HttpError::BadRequestLine)
        );
        assert_eq!(
            parse_head(b"GET / SPDY/3\r\n\r\n"),
            Err(HttpError::BadRequestLine)
        );
        assert_eq!(parse_head(&[b'a'; MAX_HEAD]), Err(HttpError::TooLong));
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_cleanly(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_head(&raw);
        }
    }
}
