//! Properties of the `${key:default}` resolver on generated input: text without `${` is never
//! touched, placeholders are replaced by their key's value or else their default, an
//! unterminated placeholder stays as written, nesting is bounded, and no input makes it panic.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{MAX_PLACEHOLDER_DEPTH, RawConfig};
use crate::error::Origin;
use crate::properties::PropertyStore;

/// Keys that exist all start with `k`; keys that never exist start with `m`, or are empty once
/// relaxed (`${:default}`, `${-:default}`). Lookups are relaxed (case, `-`, `_`, environment
/// spellings), and none of those forms can cross over.
fn present_key() -> impl Strategy<Value = String> {
    "k[a-z0-9]{0,4}(\\.[a-z0-9]{1,4}){0,2}"
}

fn missing_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "m[a-zA-Z0-9_-]{0,4}(\\.[a-zA-Z0-9]{1,4}){0,2}",
        1 => prop::sample::select(vec!["", "-", "_", "-_"]).prop_map(str::to_string),
    ]
}

/// `text` with every `${` broken up, so that it holds no placeholder.
fn without_placeholders(mut text: String) -> String {
    while let Some(at) = text.find("${") {
        text.replace_range(at..at + 2, "$ {");
    }
    text
}

/// Text that holds no placeholder but plenty of `$`, `{`, `}` and `:`, and any Unicode.
fn literal() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(vec!["$", "{", "}", ":", "$$", "}}", " ", "é", "日本", "🎉"])
                .prop_map(str::to_string),
            "\\PC{0,4}",
        ],
        0..6,
    )
    .prop_map(|parts| without_placeholders(parts.concat()))
}

/// A default: no placeholder and no `}` (which would end the placeholder).
fn default_text() -> impl Strategy<Value = String> {
    literal().prop_map(|text| without_placeholders(text.replace('}', "")))
}

/// The configuration: present keys and their values (which hold no placeholder), set the way
/// the environment sets them.
fn values() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(present_key(), literal(), 0..6)
}

fn config(values: &BTreeMap<String, String>) -> RawConfig {
    RawConfig::new(PropertyStore::default(), values.clone())
}

fn resolve(config: &RawConfig, text: &str) -> Result<super::ResolvedValue, String> {
    config
        .resolve("test.key", text, &Origin::Default)
        .map_err(|e| e.to_string())
}

#[derive(Debug, Clone)]
enum Placeholder {
    /// `${key}` or `${key:default}` for a key that is set (index into the keys).
    Present {
        index: usize,
        default: Option<String>,
        padded: bool,
    },
    /// `${missing:default}`.
    Missing {
        name: String,
        default: String,
        padded: bool,
    },
}

fn placeholder() -> impl Strategy<Value = Placeholder> {
    prop_oneof![
        (
            any::<usize>(),
            prop::option::of(default_text()),
            any::<bool>()
        )
            .prop_map(|(index, default, padded)| Placeholder::Present {
                index,
                default,
                padded
            }),
        (missing_key(), default_text(), any::<bool>()).prop_map(|(name, default, padded)| {
            Placeholder::Missing {
                name,
                default,
                padded,
            }
        }),
    ]
}

/// A text of literals and placeholders, what it should resolve to, and the env variable the
/// first value came from (the resolved origin).
fn template(
    values: &BTreeMap<String, String>,
    parts: &[(String, Placeholder)],
    last: &str,
) -> (String, String, Option<String>) {
    let keys: Vec<&String> = values.keys().collect();
    let mut text = String::new();
    let mut expected = String::new();
    let mut first_origin = None;
    for (literal, placeholder) in parts {
        text.push_str(literal);
        expected.push_str(literal);
        let pad = |padded: bool| if padded { " " } else { "" };
        match placeholder {
            Placeholder::Present {
                index,
                default,
                padded,
            } if !keys.is_empty() => {
                let key = keys[index % keys.len()];
                let p = pad(*padded);
                match default {
                    Some(default) => text.push_str(&format!("${{{p}{key}{p}:{default}}}")),
                    None => text.push_str(&format!("${{{p}{key}{p}}}")),
                }
                expected.push_str(&values[key]);
                first_origin.get_or_insert_with(|| key.clone());
            }
            Placeholder::Present { default, .. } => {
                // No key is set: the same text as a missing key with a default.
                let default = default.clone().unwrap_or_default();
                text.push_str(&format!("${{mnone:{default}}}"));
                expected.push_str(&default);
            }
            Placeholder::Missing {
                name,
                default,
                padded,
            } => {
                let p = pad(*padded);
                text.push_str(&format!("${{{p}{name}{p}:{default}}}"));
                expected.push_str(default);
            }
        }
    }
    text.push_str(last);
    expected.push_str(last);
    (text, expected, first_origin)
}

/// Input made of placeholder syntax, key names and Unicode, in any order.
fn placeholder_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(vec![
                "${", "}", ":", "$", "{", " ", "k", "k1", "k.a", "m", "mx", "é", "🎉", "${k",
                "${m:", "${${", "}}",
            ])
            .prop_map(str::to_string),
            "\\PC{0,3}",
        ],
        0..30,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn text_without_a_placeholder_is_returned_unchanged(
        values in values(),
        text in prop_oneof![any::<String>().prop_map(without_placeholders), literal()],
    ) {
        let resolved = resolve(&config(&values), &text).expect("no placeholder, no error");
        prop_assert_eq!(resolved.value, text);
        prop_assert_eq!(resolved.origin, Origin::Default);
    }

    #[test]
    fn placeholders_take_their_value_or_else_their_default(
        values in values(),
        parts in prop::collection::vec((literal(), placeholder()), 0..6),
        last in literal(),
    ) {
        let (text, expected, first_origin) = template(&values, &parts, &last);
        let resolved = resolve(&config(&values), &text);
        prop_assert_eq!(resolved.as_ref().map(|r| r.value.clone()), Ok(expected), "{:?}", text);
        // A value resolved from the Default origin reports where its first placeholder came from.
        let origin = first_origin.map_or(Origin::Default, Origin::Env);
        prop_assert_eq!(resolved.map(|r| r.origin), Ok(origin));
    }

    #[test]
    fn an_unterminated_placeholder_stays_as_written(
        values in values(),
        parts in prop::collection::vec((literal(), placeholder()), 0..4),
        last in literal(),
        tail in "[^}]{0,16}",
    ) {
        let (text, expected, _) = template(&values, &parts, &last);
        let text = format!("{text}${{{tail}");
        let expected = format!("{expected}${{{tail}");
        let resolved = resolve(&config(&values), &text).map(|r| r.value);
        prop_assert_eq!(resolved, Ok(expected), "{:?}", text);
    }

    #[test]
    fn nested_defaults_resolve_up_to_the_depth_limit_and_fail_cleanly_beyond(
        names in prop::collection::vec(missing_key(), 0..(2 * MAX_PLACEHOLDER_DEPTH)),
        innermost in default_text(),
    ) {
        // ${m1:${m2:...${mn:innermost}...}}
        let mut text = innermost.clone();
        for name in names.iter().rev() {
            text = format!("${{{name}:{text}}}");
        }
        let resolved = resolve(&RawConfig::default(), &text).map(|r| r.value);
        if names.len() <= MAX_PLACEHOLDER_DEPTH {
            prop_assert_eq!(resolved, Ok(innermost));
        } else {
            let error = resolved.expect_err("too deep");
            prop_assert!(error.contains("nested more than"), "{}", error);
        }
    }

    #[test]
    fn a_text_resolves_the_same_inside_a_default_as_on_its_own(
        values in values(),
        parts in prop::collection::vec((default_text(), placeholder()), 0..4),
        last in default_text(),
        name in missing_key(),
    ) {
        let (text, _, _) = template(&values, &parts, &last);
        let config = config(&values);
        let nested = format!("${{{name}:{text}}}");
        prop_assert_eq!(
            resolve(&config, &nested).map(|r| r.value),
            resolve(&config, &text).map(|r| r.value),
            "{:?}",
            nested
        );
    }

    #[test]
    fn a_missing_key_without_a_default_is_an_error_naming_it(
        values in values(),
        before in literal(),
        name in missing_key(),
    ) {
        let text = format!("{before}${{{name}}}");
        let error = resolve(&config(&values), &text).expect_err("unresolvable");
        let expected = format!("cannot resolve placeholder ${{{name}}}");
        prop_assert!(error.contains(&expected), "{}", error);
    }

    #[test]
    fn any_input_resolves_or_fails_without_panicking(
        text in prop_oneof![placeholder_soup(), any::<String>()],
        // Values may hold placeholders too, including ones that refer back to each other.
        values in prop::collection::btree_map(
            prop::sample::select(vec!["k", "k1", "k.a", "kk"]).prop_map(str::to_string),
            placeholder_soup(),
            0..4,
        ),
    ) {
        let _ = resolve(&config(&values), &text);
    }
}

/// Found by `a_text_resolves_the_same_inside_a_default_as_on_its_own`: an empty name inside a
/// default was taken for a loop.
#[test]
fn an_empty_name_inside_a_default_falls_back_like_at_the_top() {
    let config = RawConfig::default();
    assert_eq!(resolve(&config, "${:x}").map(|r| r.value), Ok("x".into()));
    assert_eq!(
        resolve(&config, "${m:${:x}}").map(|r| r.value),
        Ok("x".into())
    );
    assert_eq!(
        resolve(&config, "${m:${-:x}}").map(|r| r.value),
        Ok("x".into())
    );
}
