//! Reading one config file: every YAML document in it, flattened, minus the documents whose
//! profile condition (`spring.profiles` / `spring.config.activate.on-profile`) is not met.

use std::path::Path;

use serde::Deserialize;
use serde_norway::Value;

use crate::error::{ConfigError, Origin};
use crate::profiles::{matches_any, split_list};
use crate::properties::FlatSource;

/// The canonical keys that gate a document on profiles (both Spring spellings).
const PROFILE_GATE_KEYS: [&str; 2] = ["spring.profiles", "spring.config.activate.onprofile"];

/// The documents of `text` (read from `path`) that apply to `active` profiles, in file order.
pub(crate) fn active_documents(
    path: &Path,
    text: &str,
    active: &[String],
) -> Result<Vec<FlatSource>, ConfigError> {
    let origin = Origin::File(path.to_path_buf());
    let yaml_error = |message: String| ConfigError::Yaml {
        path: path.to_path_buf(),
        message,
    };
    let mut documents = Vec::new();
    for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let mut value =
            Value::deserialize(document).map_err(|error| yaml_error(error.to_string()))?;
        value
            .apply_merge()
            .map_err(|error| yaml_error(error.to_string()))?;
        let mut flat = FlatSource::from_yaml(&value, &origin)
            .map_err(|problem| yaml_error(format!("document {}: {problem}", index + 1)))?;
        if is_active(&mut flat, active, &origin)? {
            documents.push(flat);
        }
    }
    Ok(documents)
}

/// Takes the gating keys out of `flat` and checks them against the active profiles.
fn is_active(
    flat: &mut FlatSource,
    active: &[String],
    origin: &Origin,
) -> Result<bool, ConfigError> {
    for gate_key in PROFILE_GATE_KEYS {
        let expressions: Vec<String> = flat
            .take(gate_key)
            .iter()
            .flat_map(|value| split_list(value))
            .collect();
        if expressions.is_empty() {
            continue;
        }
        match matches_any(&expressions, active) {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(problem) => return Err(ConfigError::invalid(gate_key, problem, origin)),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(documents: &[FlatSource], key: &str) -> Vec<String> {
        documents
            .iter()
            .flat_map(|doc| doc.entries.iter())
            .filter(|(k, _)| k == key)
            .map(|(_, p)| p.value.clone())
            .collect()
    }

    #[test]
    fn documents_are_gated_by_either_spelling_and_negation() {
        let text = "\
a: base
---
spring:
  profiles: local
a: legacy-local
---
spring.config.activate.on-profile: prod
a: prod
---
spring:
  config:
    activate:
      on-profile: '!prod'
a: not-prod
---
spring.profiles: [other, local]
a: list-form
";
        let local = active_documents(Path::new("f.yml"), text, &["local".to_owned()]).unwrap();
        assert_eq!(
            values(&local, "a"),
            vec!["base", "legacy-local", "not-prod", "list-form"]
        );
        assert!(
            values(&local, "spring.profiles").is_empty(),
            "gating keys are not properties"
        );
        let prod = active_documents(Path::new("f.yml"), text, &["prod".to_owned()]).unwrap();
        assert_eq!(values(&prod, "a"), vec!["base", "prod"]);
    }

    #[test]
    fn syntax_errors_name_the_file() {
        let error =
            active_documents(Path::new("/etc/x/echo.yml"), "a: [unclosed\n", &[]).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("/etc/x/echo.yml: invalid YAML"),
            "{message}"
        );
    }

    #[test]
    fn empty_and_comment_only_files_hold_no_properties() {
        for text in ["", "# nothing here\n", "---\n---\n"] {
            let docs = active_documents(Path::new("f.yml"), text, &[]).unwrap();
            assert!(docs.iter().all(|doc| doc.entries.is_empty()), "{text:?}");
        }
    }

    #[test]
    fn a_bad_profile_expression_names_the_key_and_file() {
        let error = active_documents(
            Path::new("/x/echo.yml"),
            "spring.profiles: 'a &'\nk: v\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "spring.profiles: malformed profile expression \"a &\": a profile name is missing (from /x/echo.yml)"
        );
    }

    #[test]
    fn merge_keys_are_applied() {
        let text = "base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n";
        let docs = active_documents(Path::new("f.yml"), text, &[]).unwrap();
        assert_eq!(values(&docs, "derived.x"), vec!["1"]);
    }
}
