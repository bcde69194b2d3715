//! Page shells: the HTML, CSS and JavaScript embedded in the binary, filled in one pass.

pub(crate) const COMMON_CSS: &str = include_str!("assets/common.css");
pub(crate) const COMMON_JS: &str = include_str!("assets/common.js");

/// Replaces each `{{NAME}}` of `template` with its value in a single pass, so a value that
/// happens to contain `{{…}}` (message text, say) is never expanded itself. Unknown markers are
/// left as they are.
pub(crate) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let replaced = after.find("}}").and_then(|end| {
            let name = &after[..end];
            values
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value, end + 2))
        });
        match replaced {
            Some((value, consumed)) => {
                out.push_str(value);
                rest = &after[consumed..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_in_one_pass() {
        assert_eq!(
            fill(
                "<a>{{A}}</a><b>{{B}}</b>{{C}}",
                &[("A", "{{B}}"), ("B", "2")]
            ),
            "<a>{{B}}</a><b>2</b>{{C}}"
        );
        assert_eq!(fill("no markers {{", &[]), "no markers {{");
    }
}
