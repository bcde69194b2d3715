//! Active profiles and Spring profile expressions (`local`, `!local`, `a & b`, `(a | b) & !c`)
//! used to gate documents of a multi-document YAML file.

use std::collections::BTreeMap;

/// The profile used when `SPRING_PROFILES_ACTIVE` is unset or empty, as Halyard sets it.
pub(crate) const DEFAULT_PROFILE: &str = "local";

/// Profiles from `SPRING_PROFILES_ACTIVE` (comma-separated, trimmed, empties dropped), or
/// `local` when it names none.
pub(crate) fn active_profiles_from_env(env: &BTreeMap<String, String>) -> Vec<String> {
    let profiles: Vec<String> = env
        .get("SPRING_PROFILES_ACTIVE")
        .map(|value| split_list(value))
        .unwrap_or_default();
    if profiles.is_empty() {
        vec![DEFAULT_PROFILE.to_owned()]
    } else {
        profiles
    }
}

/// Splits a comma list, trimming items and dropping empty ones.
pub(crate) fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether a document gated by `expressions` (each one a profile expression; the document
/// applies if any matches) is active for `active` profiles.
pub(crate) fn matches_any(expressions: &[String], active: &[String]) -> Result<bool, String> {
    for expression in expressions {
        if matches(expression, active)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn matches(expression: &str, active: &[String]) -> Result<bool, String> {
    let tokens = tokenize(expression);
    let mut parser = Parser {
        tokens: &tokens,
        position: 0,
        active,
    };
    let parsed = parser.or_expression().and_then(|value| {
        if parser.position == tokens.len() {
            Ok(value)
        } else {
            Err("unexpected text after the expression")
        }
    });
    parsed.map_err(|problem| format!("malformed profile expression {expression:?}: {problem}"))
}

#[derive(Debug, PartialEq)]
enum Token {
    Name(String),
    Not,
    And,
    Or,
    Open,
    Close,
}

fn tokenize(expression: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut name = String::new();
    for c in expression.chars() {
        let operator = match c {
            '!' => Some(Token::Not),
            '&' => Some(Token::And),
            '|' => Some(Token::Or),
            '(' => Some(Token::Open),
            ')' => Some(Token::Close),
            _ => None,
        };
        if operator.is_some() || c.is_whitespace() {
            if !name.is_empty() {
                tokens.push(Token::Name(std::mem::take(&mut name)));
            }
            tokens.extend(operator);
        } else {
            name.push(c);
        }
    }
    if !name.is_empty() {
        tokens.push(Token::Name(name));
    }
    tokens
}

/// Recursive descent: `or := and ('|' and)*`, `and := unary ('&' unary)*`,
/// `unary := '!' unary | '(' or ')' | name`.
struct Parser<'a> {
    tokens: &'a [Token],
    position: usize,
    active: &'a [String],
}

impl Parser<'_> {
    fn or_expression(&mut self) -> Result<bool, &'static str> {
        let mut value = self.and_expression()?;
        while self.tokens.get(self.position) == Some(&Token::Or) {
            self.position += 1;
            let right = self.and_expression()?;
            value = value || right;
        }
        Ok(value)
    }

    fn and_expression(&mut self) -> Result<bool, &'static str> {
        let mut value = self.unary()?;
        while self.tokens.get(self.position) == Some(&Token::And) {
            self.position += 1;
            let right = self.unary()?;
            value = value && right;
        }
        Ok(value)
    }

    fn unary(&mut self) -> Result<bool, &'static str> {
        let token = self.tokens.get(self.position);
        self.position += 1;
        match token {
            Some(Token::Not) => Ok(!self.unary()?),
            Some(Token::Open) => {
                let value = self.or_expression()?;
                if self.tokens.get(self.position) != Some(&Token::Close) {
                    return Err("unbalanced parentheses");
                }
                self.position += 1;
                Ok(value)
            }
            Some(Token::Name(name)) => Ok(self.active.iter().any(|profile| profile == name)),
            _ => Err("a profile name is missing"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profiles(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn profiles_come_from_the_environment_trimmed_with_local_as_default() {
        let mut env = BTreeMap::new();
        assert_eq!(active_profiles_from_env(&env), profiles(&["local"]));
        env.insert(
            "SPRING_PROFILES_ACTIVE".to_owned(),
            " scheduler , scheduler-local,, ".to_owned(),
        );
        assert_eq!(
            active_profiles_from_env(&env),
            profiles(&["scheduler", "scheduler-local"])
        );
        env.insert("SPRING_PROFILES_ACTIVE".to_owned(), " ".to_owned());
        assert_eq!(active_profiles_from_env(&env), profiles(&["local"]));
    }

    #[test]
    fn expressions_support_negation_and_boolean_operators() {
        let active = profiles(&["local", "eu"]);
        let check = |expression: &str| matches(expression, &active).unwrap();
        assert!(check("local"));
        assert!(!check("prod"));
        assert!(check("!prod"));
        assert!(!check("!local"));
        assert!(check("local & eu"));
        assert!(!check("local & us"));
        assert!(check("prod | eu"));
        assert!(check("(prod | local) & !us"));
        assert!(matches("local &", &active).is_err());
        assert!(matches("(local", &active).is_err());
    }

    #[test]
    fn any_matching_expression_activates() {
        let active = profiles(&["local"]);
        assert!(matches_any(&profiles(&["prod", "local"]), &active).unwrap());
        assert!(!matches_any(&profiles(&["prod", "!local"]), &active).unwrap());
    }
}
