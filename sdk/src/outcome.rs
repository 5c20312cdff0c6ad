//! The outcome of one call across the ABI, as one enum: the plugin glue encodes it into
//! [`CallOut`](crate::abi::CallOut)'s `outcome`, `status`, `body` and `headers`; the host
//! decodes it once ([`Outcome::decode`]) and matches on the variants (the server's dispatch,
//! the background worker). `B` is the byte buffer: `Vec<u8>` in the plugin, the plugin's
//! buffer in the host.

use crate::abi;

/// What a call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<B> {
    /// An action's response object (JSON, answered 200); a task, hook, `init` or
    /// `shutdown` that succeeded (empty).
    Ok(B),
    /// An action's `ApiError`: the full `{"error":...}` body and its status (400-599). A
    /// task, hook, `init` or `shutdown` that failed: its message (UTF-8 text), status 500.
    Error {
        /// HTTP status, 400-599.
        status: u16,
        /// The body.
        body: B,
    },
    /// The request body was not a UTF-8 JSON object (answered 400).
    BadBody,
    /// A panic: message, location and backtrace (UTF-8).
    Panic(B),
    /// An action returned something that is not a JSON object: what (UTF-8).
    NotObject(B),
    /// A raw response: status (200-599), header lines `Name: value\r\n`, body.
    Raw {
        /// HTTP status, 200-599.
        status: u16,
        /// Header lines.
        headers: B,
        /// Body bytes.
        body: B,
    },
    /// An outcome code this host does not know, or a status out of its range.
    Unknown {
        /// The outcome code.
        code: u32,
        /// The status.
        status: u16,
    },
}

impl<B> Outcome<B> {
    /// Decodes a [`CallOut`](crate::abi::CallOut)'s fields.
    pub fn decode(code: u32, status: u16, body: B, headers: B) -> Outcome<B> {
        match code {
            abi::OUTCOME_OK => Outcome::Ok(body),
            abi::OUTCOME_ERROR if (400..600).contains(&status) => Outcome::Error { status, body },
            abi::OUTCOME_BAD_BODY => Outcome::BadBody,
            abi::OUTCOME_PANIC => Outcome::Panic(body),
            abi::OUTCOME_NOT_OBJECT => Outcome::NotObject(body),
            abi::OUTCOME_RAW if (200..600).contains(&status) => Outcome::Raw {
                status,
                headers,
                body,
            },
            code => Outcome::Unknown { code, status },
        }
    }
}

impl<B: Default> Outcome<B> {
    /// The fields of a [`CallOut`](crate::abi::CallOut): outcome code, status, body, headers.
    pub fn encode(self) -> (u32, u16, B, B) {
        let none = B::default;
        match self {
            Outcome::Ok(body) => (abi::OUTCOME_OK, 200, body, none()),
            Outcome::Error { status, body } => (abi::OUTCOME_ERROR, status, body, none()),
            Outcome::BadBody => (abi::OUTCOME_BAD_BODY, 400, none(), none()),
            Outcome::Panic(body) => (abi::OUTCOME_PANIC, 500, body, none()),
            Outcome::NotObject(body) => (abi::OUTCOME_NOT_OBJECT, 500, body, none()),
            Outcome::Raw {
                status,
                headers,
                body,
            } => (abi::OUTCOME_RAW, status, body, headers),
            Outcome::Unknown { code, status } => (code, status, none(), none()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(code: u32, status: u16) -> Outcome<Vec<u8>> {
        Outcome::decode(code, status, b"b".to_vec(), b"h".to_vec())
    }

    #[test]
    fn every_outcome_round_trips() {
        let outcomes = [
            Outcome::Ok(b"{}".to_vec()),
            Outcome::Error {
                status: 404,
                body: b"{}".to_vec(),
            },
            Outcome::BadBody,
            Outcome::Panic(b"boom".to_vec()),
            Outcome::NotObject(b"a number".to_vec()),
            Outcome::Raw {
                status: 201,
                headers: b"A: b\r\n".to_vec(),
                body: b"x".to_vec(),
            },
            Outcome::Unknown {
                code: 77,
                status: 200,
            },
        ];
        for outcome in outcomes {
            let (code, status, body, headers) = outcome.clone().encode();
            assert_eq!(Outcome::decode(code, status, body, headers), outcome);
        }
    }

    #[test]
    fn unknown_codes_and_statuses_out_of_range() {
        assert_eq!(
            decode(77, 200),
            Outcome::Unknown {
                code: 77,
                status: 200
            }
        );
        assert_eq!(
            decode(u32::MAX, 500),
            Outcome::Unknown {
                code: u32::MAX,
                status: 500
            }
        );
        for status in [0, 200, 399, 600, 999] {
            assert_eq!(
                decode(abi::OUTCOME_ERROR, status),
                Outcome::Unknown { code: 1, status }
            );
        }
        for status in [400, 599] {
            assert!(matches!(
                decode(abi::OUTCOME_ERROR, status),
                Outcome::Error { .. }
            ));
        }
        for status in [0, 199, 600] {
            assert_eq!(
                decode(abi::OUTCOME_RAW, status),
                Outcome::Unknown { code: 5, status }
            );
        }
        for status in [200, 302, 599] {
            assert!(matches!(
                decode(abi::OUTCOME_RAW, status),
                Outcome::Raw { .. }
            ));
        }
        // The status of OK, BAD_BODY, PANIC and NOT_OBJECT is not read.
        assert_eq!(decode(abi::OUTCOME_OK, 0), Outcome::Ok(b"b".to_vec()));
        assert_eq!(decode(abi::OUTCOME_BAD_BODY, 0), Outcome::BadBody);
    }
}
