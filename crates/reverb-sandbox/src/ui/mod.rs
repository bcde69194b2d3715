//! Browser pages for the fakes, so `make demo` shows the whole SlackOps loop: the fake Slack
//! serves a Slack-like channel view at `/` and the fake Orca a Deck-like execution list at `/`.
//!
//! Pages are rendered on the server (every text escaped there) and refreshed by a little
//! vanilla JavaScript that polls `GET /_sandbox/ui/view` every second; buttons use the fakes'
//! existing control API. HTML, CSS and JS are embedded with `include_str!`: no build step.

mod directory;
mod html;
mod mrkdwn;
pub(crate) mod orca_page;
mod orca_view;
mod page;
pub(crate) mod slack_page;
mod slack_view;

#[cfg(test)]
mod tests;
