//! Flattened properties with Spring's merge semantics: every leaf of a YAML tree becomes one
//! property (`slack.app.token`, `hosts[0]`), sources overlay each other key by key, and a list
//! in a higher source replaces the whole list of lower ones.

use std::collections::{BTreeMap, BTreeSet};

use serde_norway::Value;

use crate::error::Origin;
use crate::keys::{canonical_segment, join};

/// One property value (always text, as in Spring) and where it was set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Property {
    pub value: String,
    pub origin: Origin,
}

/// The flattened properties of one source (one YAML document), keyed by canonical key.
#[derive(Debug, Default)]
pub(crate) struct FlatSource {
    pub entries: Vec<(String, Property)>,
    /// Canonical keys holding a list in this source; lower sources' items under them are dropped.
    pub list_prefixes: BTreeSet<String>,
}

impl FlatSource {
    /// Flattens a YAML document whose root must be a mapping (`null` counts as empty).
    pub fn from_yaml(document: &Value, origin: &Origin) -> Result<Self, String> {
        let mut source = FlatSource::default();
        match untag(document) {
            Value::Null => {}
            Value::Mapping(_) => source.flatten("", document, origin)?,
            _ => return Err("the document is not a mapping of keys".to_owned()),
        }
        Ok(source)
    }

    /// Removes the properties at `canonical` (a leaf or list items) and returns their values.
    pub fn take(&mut self, canonical: &str) -> Vec<String> {
        let item_prefix = format!("{canonical}[");
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|(key, _)| key == canonical || key.starts_with(&item_prefix));
        self.entries = kept;
        self.list_prefixes.remove(canonical);
        taken
            .into_iter()
            .map(|(_, property)| property.value)
            .collect()
    }

    fn flatten(&mut self, prefix: &str, node: &Value, origin: &Origin) -> Result<(), String> {
        match untag(node) {
            Value::Mapping(mapping) if !mapping.is_empty() => {
                for (key, child) in mapping {
                    let key_text = scalar_key(key)?;
                    let mut path = prefix.to_owned();
                    for segment in key_text.split('.').filter(|segment| !segment.is_empty()) {
                        path = join(&path, &canonical_segment(segment));
                    }
                    self.flatten(&path, child, origin)?;
                }
            }
            Value::Sequence(items) => {
                self.list_prefixes.insert(prefix.to_owned());
                if items.is_empty() {
                    self.leaf(prefix, String::new(), origin);
                }
                for (index, item) in items.iter().enumerate() {
                    self.flatten(&format!("{prefix}[{index}]"), item, origin)?;
                }
            }
            // An empty mapping and `null` both bind as an empty value, as in Spring.
            Value::Mapping(_) | Value::Null => self.leaf(prefix, String::new(), origin),
            Value::Bool(flag) => self.leaf(prefix, flag.to_string(), origin),
            Value::Number(number) => self.leaf(prefix, number.to_string(), origin),
            Value::String(text) => self.leaf(prefix, text.clone(), origin),
            Value::Tagged(_) => return Err("unsupported nested tag".to_owned()),
        }
        Ok(())
    }

    fn leaf(&mut self, key: &str, value: String, origin: &Origin) {
        self.entries.push((
            key.to_owned(),
            Property {
                value,
                origin: origin.clone(),
            },
        ));
    }
}

/// YAML tags (`!!str`, custom ones) carry no meaning for configuration; read through them.
fn untag(node: &Value) -> &Value {
    match node {
        Value::Tagged(tagged) => untag(&tagged.value),
        other => other,
    }
}

fn scalar_key(key: &Value) -> Result<String, String> {
    match untag(key) {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        _ => Err("a mapping key is not a plain scalar".to_owned()),
    }
}

/// All sources merged, highest precedence last applied.
#[derive(Debug, Clone, Default)]
pub(crate) struct PropertyStore {
    entries: BTreeMap<String, Property>,
}

impl PropertyStore {
    /// Applies `source` over what is already merged.
    pub fn overlay(&mut self, source: FlatSource) {
        for list in &source.list_prefixes {
            let item_prefix = format!("{list}[");
            let replaced: Vec<String> = self
                .entries
                .range(item_prefix.clone()..)
                .take_while(|(key, _)| key.starts_with(&item_prefix))
                .map(|(key, _)| key.clone())
                .collect();
            for key in replaced {
                self.entries.remove(&key);
            }
        }
        self.entries.extend(source.entries);
    }

    pub fn get(&self, canonical: &str) -> Option<&Property> {
        self.entries.get(canonical)
    }

    /// The scalar items of the list at `canonical`, in index order.
    pub fn list_items(&self, canonical: &str) -> Vec<&Property> {
        let item_prefix = format!("{canonical}[");
        let mut items: Vec<(usize, &Property)> = self
            .entries
            .range(item_prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&item_prefix))
            .filter_map(|(key, property)| {
                let index = key[item_prefix.len()..].strip_suffix(']')?.parse().ok()?;
                Some((index, property))
            })
            .collect();
        items.sort_by_key(|(index, _)| *index);
        items.into_iter().map(|(_, property)| property).collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn source(yaml: &str, file: &str) -> FlatSource {
        let value: Value = serde_norway::from_str(yaml).unwrap();
        FlatSource::from_yaml(&value, &Origin::File(PathBuf::from(file))).unwrap()
    }

    fn value_of(store: &PropertyStore, key: &str) -> Option<String> {
        store.get(key).map(|property| property.value.clone())
    }

    #[test]
    fn flattening_canonicalises_keys_and_renders_scalars_as_text() {
        let flat = source(
            "slack:\n  app.signing-secret: s\n  enabled: true\nserver: {port: 8089}\nx: ~\n",
            "a",
        );
        let keys: BTreeMap<_, _> = flat
            .entries
            .into_iter()
            .map(|(k, p)| (k, p.value))
            .collect();
        assert_eq!(keys["slack.app.signingsecret"], "s");
        assert_eq!(keys["slack.enabled"], "true");
        assert_eq!(keys["server.port"], "8089");
        assert_eq!(keys["x"], "");
    }

    #[test]
    fn maps_merge_key_by_key_and_lists_replace_whole() {
        let mut store = PropertyStore::default();
        store.overlay(source("a: {b: 1, c: 2}\nlist: [x, y, z]\n", "low"));
        store.overlay(source("a: {c: 3}\nlist: [w]\n", "high"));
        assert_eq!(value_of(&store, "a.b").as_deref(), Some("1"));
        assert_eq!(value_of(&store, "a.c").as_deref(), Some("3"));
        let items: Vec<_> = store
            .list_items("list")
            .into_iter()
            .map(|p| p.value.clone())
            .collect();
        assert_eq!(items, vec!["w"]);
        assert_eq!(
            store.get("a.c").unwrap().origin,
            Origin::File(PathBuf::from("high"))
        );
    }

    #[test]
    fn list_items_sort_numerically() {
        let yaml = format!(
            "l: [{}]\n",
            (0..12)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut store = PropertyStore::default();
        store.overlay(source(&yaml, "f"));
        let items: Vec<_> = store
            .list_items("l")
            .into_iter()
            .map(|p| p.value.clone())
            .collect();
        assert_eq!(items.last().map(String::as_str), Some("11"));
        assert_eq!(items.len(), 12);
    }

    #[test]
    fn a_non_mapping_document_is_rejected() {
        let value: Value = serde_norway::from_str("- a\n- b\n").unwrap();
        assert!(FlatSource::from_yaml(&value, &Origin::Default).is_err());
    }
}
