//! `reverb.judgments.usersFile`: an operator's map from a Slack user id or an e-mail address to
//! the Spinnaker user id judgments are recorded under. Checked entry by entry at start, so a bad
//! file stops Reverb with the file and the line instead of refusing clicks later.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::Value;

/// Longest Spinnaker user id accepted (Fiat keeps user ids as short strings).
const MAX_USER_ID_CHARS: usize = 256;

/// The parsed file: keys are Slack user ids as given (`U…`, `W…`) or lower-cased e-mails.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsersFile {
    pub path: PathBuf,
    pub by_slack_id: BTreeMap<String, String>,
    pub by_email: BTreeMap<String, String>,
}

/// Why the users file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {problem}", path.display())]
pub struct UsersFileError {
    pub path: PathBuf,
    /// 1-based; 0 when the problem is the file as a whole.
    pub line: usize,
    pub problem: String,
}

impl UsersFile {
    pub fn load(path: &Path) -> Result<Self, UsersFileError> {
        let fail = |line: usize, problem: String| UsersFileError {
            path: path.to_path_buf(),
            line,
            problem,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| fail(0, format!("cannot read: {e}")))?;
        Self::parse(path, &text).map_err(|(line, problem)| fail(line, problem))
    }

    fn parse(path: &Path, text: &str) -> Result<Self, (usize, String)> {
        let value: Value = serde_norway::from_str(text).map_err(|e| {
            let line = e.location().map(|l| l.line()).unwrap_or(0);
            (line, format!("invalid YAML: {e}"))
        })?;
        let mut me = UsersFile {
            path: path.to_path_buf(),
            ..UsersFile::default()
        };
        let mapping = match value {
            Value::Null => return Ok(me),
            Value::Mapping(mapping) => mapping,
            _ => {
                return Err((
                    1,
                    "must be a mapping of Slack user id or e-mail to Spinnaker user".into(),
                ));
            }
        };
        for (key, user) in mapping {
            let key = scalar(&key).ok_or((0, "a key is not a string".to_string()))?;
            let line = line_of(text, &key);
            let user = scalar(&user)
                .map(|u| u.trim().to_string())
                .ok_or((line, format!("{key}: the Spinnaker user must be a string")))?;
            if user.is_empty()
                || user.chars().count() > MAX_USER_ID_CHARS
                || !user.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
            {
                return Err((
                    line,
                    format!(
                        "{key}: {user:?} is not a usable Spinnaker user id (printable ASCII, at most {MAX_USER_ID_CHARS} characters)"
                    ),
                ));
            }
            let key = key.trim();
            if key.contains('@') {
                me.by_email.insert(key.to_ascii_lowercase(), user);
            } else if is_slack_user_id(key) {
                me.by_slack_id.insert(key.to_string(), user);
            } else {
                return Err((
                    line,
                    format!("{key:?} is neither a Slack user id (U… or W…) nor an e-mail address"),
                ));
            }
        }
        Ok(me)
    }

    pub fn entries(&self) -> usize {
        self.by_slack_id.len() + self.by_email.len()
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Slack user ids: `U` or `W` and upper-case letters and digits.
fn is_slack_user_id(key: &str) -> bool {
    key.len() >= 3
        && key.len() <= 32
        && (key.starts_with('U') || key.starts_with('W'))
        && key
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The first line that starts with `key` (quoted or not), for error messages.
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches(['"', '\'']);
            l.starts_with(key)
        })
        .map(|i| i + 1)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<UsersFile, (usize, String)> {
        UsersFile::parse(Path::new("users.yml"), text)
    }

    #[test]
    fn slack_ids_and_emails_map_to_spinnaker_users() {
        let file =
            parse("U0JANE0001: jane\n\"Bob@Example.com\": bob.smith\nW0GRID0001: grid\n").unwrap();
        assert_eq!(file.by_slack_id["U0JANE0001"], "jane");
        assert_eq!(file.by_slack_id["W0GRID0001"], "grid");
        assert_eq!(file.by_email["bob@example.com"], "bob.smith");
        assert_eq!(file.entries(), 3);
        assert_eq!(parse("").unwrap().entries(), 0);
    }

    #[test]
    fn bad_entries_name_their_line() {
        assert_eq!(parse("U0JANE0001: jane\nalice: a\n").unwrap_err().0, 2);
        assert_eq!(
            parse("U0JANE0001: jane\nU0BOB00001: \"\"\n").unwrap_err().0,
            2
        );
        assert_eq!(parse("U0JANE0001: [a, b]\n").unwrap_err().0, 1);
        let (line, problem) = parse("U0JANE0001: jane\n  bad: [\n").unwrap_err();
        assert!(line >= 2, "{line}");
        assert!(problem.contains("invalid YAML"), "{problem}");
        assert!(parse("- a\n- b\n").is_err());
    }
}
