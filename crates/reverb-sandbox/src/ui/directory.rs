//! Who and where: the workspace's users and channels, for mentions and the user picker.

use crate::slack::{SlackChannel, SlackState, SlackUser};

#[derive(Debug, Clone, Default)]
pub(crate) struct Directory {
    users: Vec<SlackUser>,
    channels: Vec<SlackChannel>,
}

impl Directory {
    pub(crate) fn new(users: Vec<SlackUser>, channels: Vec<SlackChannel>) -> Self {
        Self { users, channels }
    }

    pub(crate) fn of(state: &SlackState) -> Self {
        Self::new(state.users(), state.channels())
    }

    pub(crate) fn user(&self, id: &str) -> Option<&SlackUser> {
        self.users.iter().find(|user| user.id == id)
    }

    /// The name Slack shows for a mention (`@jane`).
    pub(crate) fn user_name(&self, id: &str) -> Option<&str> {
        self.user(id).map(|user| user.name.as_str())
    }

    pub(crate) fn channel_name(&self, id: &str) -> Option<&str> {
        self.channels
            .iter()
            .find(|channel| channel.id == id)
            .map(|channel| channel.name.as_str())
    }

    /// People who can click (the bot cannot).
    pub(crate) fn people(&self) -> impl Iterator<Item = &SlackUser> {
        self.users
            .iter()
            .filter(|user| !user.is_bot && !user.deleted)
    }

    /// A viewer named by id or by name; the first person (jane) when none or an unknown one is
    /// named, so the page always has someone to click as.
    pub(crate) fn viewer(&self, wanted: Option<&str>) -> Option<&SlackUser> {
        let wanted = wanted.map(str::trim).filter(|wanted| !wanted.is_empty());
        wanted
            .and_then(|wanted| {
                self.people()
                    .find(|user| user.id == wanted || user.name.eq_ignore_ascii_case(wanted))
            })
            .or_else(|| self.people().next())
    }

    pub(crate) fn channels(&self) -> &[SlackChannel] {
        &self.channels
    }
}
