//! A string that must never reach a log line.

use std::fmt;

const MASK: &str = "******";

/// A secret string (token, signing secret). `Debug` and `Display` print `******`; only
/// [`Secret::expose`] reveals it. Deliberately not `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The secret itself; call only where it is sent or used as a key.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What `Debug`, `Display` and `reverb config` show instead of the value.
    pub const MASK: &'static str = MASK;
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::new("xoxb-very-secret".to_owned());
        assert_eq!(format!("{secret:?}"), "******");
        assert_eq!(format!("{secret}"), "******");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(******)");
        assert_eq!(secret.expose(), "xoxb-very-secret");
    }
}
