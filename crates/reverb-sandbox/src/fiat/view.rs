//! Fiat's JSON: `UserPermission.View` and Spring's error body, written the way Fiat's
//! ObjectMapper writes them (`INDENT_OUTPUT`, nulls omitted, dates as epoch milliseconds).

use std::collections::BTreeMap;
use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

use super::model::{FiatAuthorization, FiatGrant, FiatRole, FiatServiceAccount, FiatUser};

/// `Account.View` / `Application.View` / `BuildService.View`.
#[derive(Debug, Serialize)]
pub(crate) struct GrantView<'a> {
    name: &'a str,
    authorizations: Vec<FiatAuthorization>,
}

/// `ServiceAccount.View`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceAccountView<'a> {
    name: &'a str,
    member_of: &'a [String],
}

/// `UserPermission.View`, fields in Fiat's declaration order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserPermissionView<'a> {
    name: &'a str,
    accounts: Vec<GrantView<'a>>,
    applications: Vec<GrantView<'a>>,
    service_accounts: Vec<ServiceAccountView<'a>>,
    roles: &'a [FiatRole],
    build_services: Vec<GrantView<'a>>,
    /// Plugin resource types; the fake has none (`{ }`).
    extension_resources: BTreeMap<String, Vec<GrantView<'a>>>,
    admin: bool,
    account_manager: bool,
    legacy_fallback: bool,
    allow_access_to_unknown_applications: bool,
}

fn grants<'a>(list: &'a [FiatGrant], admin: bool) -> Vec<GrantView<'a>> {
    let mut views: Vec<GrantView<'a>> = list
        .iter()
        .map(|grant| GrantView {
            name: &grant.name,
            // `Authorization.ALL` for admins, whatever the resource's permissions say.
            authorizations: if admin {
                FiatAuthorization::ALL.to_vec()
            } else {
                grant.authorizations.clone()
            },
        })
        .collect();
    // Fiat's sets have no order; a stable one keeps answers comparable.
    views.sort_by(|a, b| a.name.cmp(b.name));
    views
}

fn service_accounts(list: &[FiatServiceAccount]) -> Vec<ServiceAccountView<'_>> {
    list.iter()
        .map(|account| ServiceAccountView {
            name: &account.name,
            member_of: &account.member_of,
        })
        .collect()
}

impl<'a> UserPermissionView<'a> {
    pub(crate) fn of(user: &'a FiatUser, allow_unknown_applications: bool) -> Self {
        Self {
            name: &user.name,
            accounts: grants(&user.accounts, user.admin),
            applications: grants(&user.applications, user.admin),
            service_accounts: service_accounts(&user.service_accounts),
            roles: &user.roles,
            build_services: grants(&user.build_services, user.admin),
            extension_resources: BTreeMap::new(),
            admin: user.admin,
            account_manager: user.account_manager,
            legacy_fallback: false,
            allow_access_to_unknown_applications: allow_unknown_applications,
        }
    }
}

/// The body kork's `GenericErrorController` renders (`DefaultErrorAttributes` minus `path`,
/// which kork's `ErrorConfiguration` removes), in its key order.
#[derive(Debug, Serialize)]
pub(crate) struct SpringError<'a> {
    pub(crate) timestamp: i64,
    pub(crate) status: u16,
    pub(crate) error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) exception: Option<&'a str>,
    pub(crate) message: &'a str,
}

/// Jackson's `DefaultPrettyPrinter`: objects one entry a line, indented by two spaces, with
/// `" : "` between key and value; arrays on one line as `[ a, b ]`; empty ones `{ }` and `[ ]`.
#[derive(Debug, Default)]
struct JacksonPretty {
    nesting: usize,
    /// Per open object or array: whether it has had an entry yet.
    open: Vec<bool>,
}

impl JacksonPretty {
    fn newline<W: ?Sized + io::Write>(&self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b"\n")?;
        for _ in 0..self.nesting {
            writer.write_all(b"  ")?;
        }
        Ok(())
    }
}

impl Formatter for JacksonPretty {
    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open.push(false);
        writer.write_all(b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open.pop();
        writer.write_all(b" ]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if let Some(seen) = self.open.last_mut() {
            *seen = true;
        }
        writer.write_all(if first { b" " } else { b", " })
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open.push(false);
        self.nesting += 1;
        writer.write_all(b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.nesting = self.nesting.saturating_sub(1);
        if self.open.pop().unwrap_or(false) {
            self.newline(writer)?;
        } else {
            writer.write_all(b" ")?;
        }
        writer.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if let Some(seen) = self.open.last_mut() {
            *seen = true;
        }
        if !first {
            writer.write_all(b",")?;
        }
        self.newline(writer)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b" : ")
    }
}

/// `value` as Fiat's ObjectMapper prints it.
pub(crate) fn jackson_pretty<T: Serialize>(value: &T) -> String {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, JacksonPretty::default());
    if value.serialize(&mut serializer).is_err() {
        return "{ }".to_owned();
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn pretty_printing_follows_jacksons_default_printer() {
        let value = json!({"a": [], "b": {}, "c": ["X", "Y"], "d": [{"n": 1}], "e": true});
        assert_eq!(
            jackson_pretty(&value),
            "{\n  \"a\" : [ ],\n  \"b\" : { },\n  \"c\" : [ \"X\", \"Y\" ],\n  \"d\" : [ {\n    \"n\" : 1\n  } ],\n  \"e\" : true\n}"
        );
        let back: Value = serde_json::from_str(&jackson_pretty(&value)).expect("valid JSON");
        assert_eq!(back, value);
    }

    #[test]
    fn admin_views_show_every_authorization_and_keep_declaration_order() {
        let user = FiatUser::new("Root@Example.com")
            .with_application("zeta", &[FiatAuthorization::Read])
            .with_application("alpha", &[FiatAuthorization::Execute])
            .as_admin();
        let text = jackson_pretty(&UserPermissionView::of(&user, false));
        let view: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(view["name"], "root@example.com");
        assert_eq!(view["applications"][0]["name"], "alpha");
        assert_eq!(
            view["applications"][1]["authorizations"],
            json!(["READ", "WRITE", "EXECUTE", "CREATE"])
        );
        let keys: Vec<&str> = [
            "name",
            "accounts",
            "applications",
            "serviceAccounts",
            "roles",
            "buildServices",
            "extensionResources",
            "admin",
            "accountManager",
            "legacyFallback",
            "allowAccessToUnknownApplications",
        ]
        .into_iter()
        .collect();
        let positions: Vec<usize> = keys
            .iter()
            .map(|key| text.find(&format!("\n  \"{key}\" : ")).expect(key))
            .collect();
        assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
    }
}
