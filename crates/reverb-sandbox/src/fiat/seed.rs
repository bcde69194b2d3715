//! The fake Fiat's seed users; their e-mails are those of the fake Slack's seed users.

use super::model::FiatAuthorization::{Execute, Read, Write};
use super::model::FiatUser;
use super::permissions::UNRESTRICTED_USER;

/// The application of the fake Orca's sample pipeline (`SamplePipeline::default().application`).
pub const SAMPLE_APPLICATION: &str = "myapp";

pub(crate) fn seed_users() -> Vec<FiatUser> {
    vec![
        FiatUser::new("jane@example.com")
            .with_roles(&["release-managers", "developers"])
            .with_application(SAMPLE_APPLICATION, &[Read, Write, Execute])
            .with_account("prod-aws", &[Read, Write])
            .with_account("staging-aws", &[Read, Write])
            .with_account("audit-aws", &[Read]),
        FiatUser::new("john@doe.com")
            .with_roles(&["release-managers"])
            .with_application(SAMPLE_APPLICATION, &[Read, Execute])
            .with_account("staging-aws", &[Read, Write]),
        // May run the pipeline, so only the judgment stage's role check refuses her.
        FiatUser::new("mallory@example.com")
            .with_roles(&["developers"])
            .with_application(SAMPLE_APPLICATION, &[Read, Execute])
            .with_account("staging-aws", &[Read, Write]),
        // May look, not act: Orca's PATCH answers 403.
        FiatUser::new("viewer@example.com").with_application(SAMPLE_APPLICATION, &[Read]),
        FiatUser::new("admin@example.com").as_admin(),
        // What `anonymous` resolves to; nothing in the sandbox is unrestricted.
        FiatUser::new(UNRESTRICTED_USER),
    ]
}
