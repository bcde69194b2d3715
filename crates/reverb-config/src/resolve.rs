//! The merged property view: relaxed lookups, environment overrides, and `${key:default}`
//! placeholders resolved on read, so that only keys Reverb actually reads can fail.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{ConfigError, Origin};
use crate::keys::{canonical_key, env_names};
use crate::properties::{Property, PropertyStore};

/// How deep placeholders may nest or chain before we call it a loop.
const MAX_PLACEHOLDER_DEPTH: usize = 32;

/// Every file merged, plus the environment, before typing. Lookups are relaxed
/// (`signing-secret` = `signingSecret`) and the environment beats files, Spring style.
#[derive(Clone, Default)]
pub struct RawConfig {
    store: PropertyStore,
    env: BTreeMap<String, String>,
}

/// A value with its placeholders resolved, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedValue {
    pub value: String,
    pub origin: Origin,
}

// Files and the environment hold tokens: never print their contents.
impl fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawConfig")
            .field("properties", &self.store.len())
            .field("env_vars", &self.env.len())
            .finish()
    }
}

impl RawConfig {
    pub(crate) fn new(store: PropertyStore, env: BTreeMap<String, String>) -> Self {
        RawConfig { store, env }
    }

    /// The value of `key` with placeholders resolved; `None` when neither a file nor the
    /// environment sets it.
    pub fn get(&self, key: &str) -> Result<Option<ResolvedValue>, ConfigError> {
        match self.lookup(key) {
            Some(property) => self
                .resolve(key, &property.value, &property.origin)
                .map(Some),
            None => Ok(None),
        }
    }

    /// The list at `key`: YAML list items, or a comma-separated string (also from the
    /// environment), each item resolved.
    pub fn get_list(&self, key: &str) -> Result<Option<Vec<ResolvedValue>>, ConfigError> {
        if let Some(property) = self.env_override(key) {
            return self
                .resolve_items(key, split_items(&property.value), &property.origin)
                .map(Some);
        }
        let canonical = canonical_key(key);
        let items = self.store.list_items(&canonical);
        if !items.is_empty() {
            return items
                .into_iter()
                .map(|property| self.resolve(key, &property.value, &property.origin))
                .collect::<Result<Vec<_>, _>>()
                .map(Some);
        }
        match self.store.get(&canonical) {
            Some(property) => self
                .resolve_items(key, split_items(&property.value), &property.origin)
                .map(Some),
            None => Ok(None),
        }
    }

    /// Resolves the placeholders in `text`, the value of `key` from `origin`. When `origin` is
    /// [`Origin::Default`] and a placeholder was filled from a file or variable, the result
    /// carries that origin instead, so `reverb config` shows where the value really came from.
    pub fn resolve(
        &self,
        key: &str,
        text: &str,
        origin: &Origin,
    ) -> Result<ResolvedValue, ConfigError> {
        let mut expansion = Expansion {
            config: self,
            stack: Vec::new(),
            referenced: None,
        };
        let value = expansion
            .expand(text)
            .map_err(|problem| ConfigError::invalid(key, problem.to_string(), origin))?;
        let origin = match (origin, expansion.referenced) {
            (Origin::Default, Some(referenced)) => referenced,
            _ => origin.clone(),
        };
        Ok(ResolvedValue { value, origin })
    }

    fn resolve_items(
        &self,
        key: &str,
        items: Vec<String>,
        origin: &Origin,
    ) -> Result<Vec<ResolvedValue>, ConfigError> {
        items
            .iter()
            .map(|item| self.resolve(key, item, origin))
            .collect()
    }

    /// The raw (unresolved) value of `key`: environment first, then the merged files.
    fn lookup(&self, key: &str) -> Option<Property> {
        self.env_override(key)
            .or_else(|| self.store.get(&canonical_key(key)).cloned())
    }

    fn env_override(&self, key: &str) -> Option<Property> {
        env_names(key).into_iter().find_map(|name| {
            let value = self.env.get(&name)?.clone();
            Some(Property {
                value,
                origin: Origin::Env(name),
            })
        })
    }
}

fn split_items(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|item| item.trim().to_owned())
        .collect()
}

/// Why a placeholder could not be expanded.
enum PlaceholderProblem {
    Unresolvable(String),
    Cycle(String),
    TooDeep,
}

impl fmt::Display for PlaceholderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlaceholderProblem::Unresolvable(name) => {
                write!(
                    f,
                    "cannot resolve placeholder ${{{name}}} (no such key or environment variable)"
                )
            }
            PlaceholderProblem::Cycle(name) => {
                write!(f, "placeholder ${{{name}}} refers back to itself")
            }
            PlaceholderProblem::TooDeep => write!(
                f,
                "placeholders nested more than {MAX_PLACEHOLDER_DEPTH} deep"
            ),
        }
    }
}

/// One resolution: the keys being expanded (to catch loops) and the first origin a
/// placeholder was filled from.
struct Expansion<'a> {
    config: &'a RawConfig,
    stack: Vec<String>,
    referenced: Option<Origin>,
}

impl Expansion<'_> {
    fn expand(&mut self, text: &str) -> Result<String, PlaceholderProblem> {
        if self.stack.len() > MAX_PLACEHOLDER_DEPTH {
            return Err(PlaceholderProblem::TooDeep);
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let body_start = start + 2;
            let Some(body_len) = closing_brace(&rest[body_start..]) else {
                // Unterminated: not a placeholder, keep the text as written.
                break;
            };
            out.push_str(&rest[..start]);
            let body = &rest[body_start..body_start + body_len];
            out.push_str(&self.placeholder(body)?);
            rest = &rest[body_start + body_len + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Expands `name` or `name:default` (both parts may hold placeholders themselves).
    fn placeholder(&mut self, body: &str) -> Result<String, PlaceholderProblem> {
        let (name_text, default) = match default_separator(body) {
            Some(colon) => (&body[..colon], Some(&body[colon + 1..])),
            None => (body, None),
        };
        self.stack.push(String::new());
        let name = self.expand(name_text);
        self.stack.pop();
        let name = name?.trim().to_owned();
        let canonical = canonical_key(&name);
        // An empty name is never a key being expanded (the empty entries mark name and default
        // expansions), so `${m:${:x}}` is `x`, as `${:x}` is.
        if !canonical.is_empty() && self.stack.contains(&canonical) {
            return Err(PlaceholderProblem::Cycle(name));
        }
        match self.config.lookup(&name) {
            Some(property) => {
                if self.referenced.is_none() {
                    self.referenced = Some(property.origin.clone());
                }
                self.stack.push(canonical);
                let value = self.expand(&property.value);
                self.stack.pop();
                value
            }
            None => match default {
                Some(default) => {
                    self.stack.push(String::new());
                    let value = self.expand(default);
                    self.stack.pop();
                    value
                }
                None => Err(PlaceholderProblem::Unresolvable(name)),
            },
        }
    }
}

/// Byte length of the placeholder body in `text` (which starts right after `${`), honouring
/// nested `${…}`; `None` if it never closes.
fn closing_brace(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 1usize;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'$' if bytes.get(index + 1) == Some(&b'{') => {
                depth += 1;
                index += 1;
            }
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(index);
                }
            }
            _ => {}
        }
        index += 1;
    }
    None
}

/// Position of the `:` separating name and default, outside any nested placeholder.
fn default_separator(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut depth = 0usize;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'$' if bytes.get(index + 1) == Some(&b'{') => {
                depth += 1;
                index += 1;
            }
            b'}' => depth = depth.saturating_sub(1),
            b':' if depth == 0 => return Some(index),
            _ => {}
        }
        index += 1;
    }
    None
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::properties::FlatSource;
    use std::path::PathBuf;

    fn config(yaml: &str, env: &[(&str, &str)]) -> RawConfig {
        let value: serde_norway::Value = serde_norway::from_str(yaml).unwrap();
        let origin = Origin::File(PathBuf::from("/cfg/echo.yml"));
        let mut store = PropertyStore::default();
        store.overlay(FlatSource::from_yaml(&value, &origin).unwrap());
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        RawConfig::new(store, env)
    }

    fn value(config: &RawConfig, key: &str) -> String {
        config.get(key).unwrap().unwrap().value
    }

    #[test]
    fn placeholders_resolve_inside_text_nested_and_with_defaults() {
        let cfg = config(
            "host: h\nport: 1\nurl: http://${host}:${port}/x\nnested: ${missing:${host:z}}\n\
             fallback: ${missing.key:http://localhost:9000}\nchain: ${url}\nkey-from: ${${which}}\nwhich: host\n",
            &[],
        );
        assert_eq!(value(&cfg, "url"), "http://h:1/x");
        assert_eq!(value(&cfg, "nested"), "h");
        assert_eq!(value(&cfg, "fallback"), "http://localhost:9000");
        assert_eq!(value(&cfg, "chain"), "http://h:1/x");
        assert_eq!(value(&cfg, "keyFrom"), "h");
    }

    #[test]
    fn placeholders_resolve_inside_lists() {
        let cfg = config(
            "host: h\nurls: ['http://${host}', '${nope:d}', plain]\ncsv: 'a, ${host}'\n",
            &[],
        );
        let urls: Vec<_> = cfg
            .get_list("urls")
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|v| v.value)
            .collect();
        assert_eq!(urls, vec!["http://h", "d", "plain"]);
        let csv: Vec<_> = cfg
            .get_list("csv")
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|v| v.value)
            .collect();
        assert_eq!(csv, vec!["a", "h"]);
        assert!(cfg.get_list("absent").unwrap().is_none());
    }

    #[test]
    fn placeholders_fall_back_to_the_environment_by_exact_and_spring_names() {
        let cfg = config(
            "orca: ${services.orca.baseUrl}\nhome-dir: ${HOME}/x\nsnake: ${services.echo.base-url}\n",
            &[
                ("SERVICES_ORCA_BASEURL", "http://orca:8083"),
                ("HOME", "/home/u"),
                ("SERVICES_ECHO_BASE_URL", "e"),
            ],
        );
        assert_eq!(value(&cfg, "orca"), "http://orca:8083");
        assert_eq!(value(&cfg, "homeDir"), "/home/u/x");
        assert_eq!(value(&cfg, "snake"), "e");
    }

    #[test]
    fn unresolvable_placeholder_names_key_placeholder_and_file() {
        let cfg = config("slack:\n  token: ${no.such.key}\n", &[]);
        let message = cfg.get("slack.token").unwrap_err().to_string();
        assert_eq!(
            message,
            "slack.token: cannot resolve placeholder ${no.such.key} (no such key or environment variable) (from /cfg/echo.yml)"
        );
    }

    #[test]
    fn placeholder_loops_are_errors_not_stack_overflows() {
        let cfg = config("a: ${b}\nb: ${a}\nself: x${self}\n", &[]);
        assert!(
            cfg.get("a")
                .unwrap_err()
                .to_string()
                .contains("refers back to itself")
        );
        assert!(cfg.get("self").is_err());
    }

    #[test]
    fn unterminated_placeholder_is_literal_text() {
        let cfg = config("a: 'cost ${5'\n", &[]);
        assert_eq!(value(&cfg, "a"), "cost ${5");
    }

    #[test]
    fn environment_beats_files_in_both_forms() {
        let cfg = config(
            "slack:\n  app:\n    signingSecret: file\n",
            &[("SLACK_APP_SIGNING_SECRET", "env")],
        );
        let resolved = cfg.get("slack.app.signingSecret").unwrap().unwrap();
        assert_eq!(resolved.value, "env");
        assert_eq!(
            resolved.origin,
            Origin::Env("SLACK_APP_SIGNING_SECRET".to_owned())
        );
        let cfg = config("", &[("SLACK_APP_SIGNINGSECRET", "env2")]);
        assert_eq!(value(&cfg, "slack.app.signing-secret"), "env2");
    }

    #[test]
    fn a_default_filled_from_a_file_reports_that_file() {
        let cfg = config("services:\n  deck:\n    baseUrl: http://deck\n", &[]);
        let resolved = cfg
            .resolve(
                "spinnaker.baseUrl",
                "${services.deck.baseUrl:http://localhost:9000}",
                &Origin::Default,
            )
            .unwrap();
        assert_eq!(resolved.value, "http://deck");
        assert_eq!(
            resolved.origin,
            Origin::File(PathBuf::from("/cfg/echo.yml"))
        );
    }

    #[test]
    fn debug_does_not_print_values() {
        let cfg = config(
            "slack:\n  token: xoxb-secret\n",
            &[("SLACK_TOKEN", "xoxb-env-secret")],
        );
        let debug = format!("{cfg:?}");
        assert!(!debug.contains("secret"), "{debug}");
    }
}
