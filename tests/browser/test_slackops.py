"""The SlackOps loop in a real (headless) browser, against the sandbox and a running Reverb.

Run by scripts/browser-test.sh, which starts the fake Slack, the fake Orca and Reverb first.
Scenarios:
  1. approve_in_slack: Slack shows the starting pipeline and the judgment; jane clicks Approve;
     the message shows the decision and jane; Orca's pipeline SUCCEEDED; Slack gets the completion.
  2. reject_with_confirm: Reject opens the confirm dialog (Cancel sends nothing); confirming
     rejects; Orca's pipeline ends TERMINAL.
  3. judge_in_deck: the judgment is made on the Orca ("Deck") page; the Slack message follows.
  4. not_allowed_user: mallory (no release-manager role) clicks Approve; only she sees Reverb's
     ephemeral answer, and the judgment keeps waiting.
Prints PASS/FAIL per scenario and a closing "N passed, N failed"; exits 1 on any failure.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import urllib.request

# No __pycache__ next to the sources in the work tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from webdriver import ELEMENT_KEY, Browser, wait_until  # noqa: E402

JANE = "U0JANE0001"
MALLORY = "U0MALLORY1"
APPROVE = "reverb.judgment.continue"
REJECT = "reverb.judgment.stop"
# Reverb delivers at Slack's pace (1 message/s per channel); a pipeline's messages take seconds.
WAIT = 45.0

# Reads a message (top level of the channel) that mentions `id` anywhere in its markup, e.g. in
# a Deck link; `ts` pins one message once found.
FIND_MESSAGE = """
const [id, ts] = arguments;
for (const m of document.querySelectorAll('#messages > .msg')) {
  if (ts ? m.dataset.ts !== ts : !m.innerHTML.includes(id)) continue;
  return {
    ts: m.dataset.ts,
    text: m.innerText,
    actions: [...m.querySelectorAll("button[data-kind='button']")].map((b) => b.dataset.action),
  };
}
return null;
"""

# Every top-level message that mentions `id`: their texts.
MESSAGES_ABOUT = """
const id = arguments[0];
return [...document.querySelectorAll('#messages > .msg')]
  .filter((m) => m.innerHTML.includes(id)).map((m) => m.innerText);
"""


class Run:
    """What the scenarios share: the browser, the sandbox's URLs, where screenshots go."""

    def __init__(self, browser, args):
        self.browser = browser
        self.slack = args.slack.rstrip("/")
        self.orca = args.orca.rstrip("/")
        self.run_dir = args.run_dir
        self.docs_dir = args.docs_dir
        self.screenshots = []

    def shot(self, name):
        """A screenshot in this run's folder and, if enabled, in the docs."""
        path = os.path.join(self.run_dir, name + ".png")
        self.browser.screenshot(path)
        if self.docs_dir:
            os.makedirs(self.docs_dir, exist_ok=True)
            shutil.copyfile(path, os.path.join(self.docs_dir, name + ".png"))
        self.screenshots.append(path)

    def api(self, url):
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)

    def execution_ids(self):
        return {execution["id"] for execution in self.api(self.orca + "/_sandbox/pipelines")}

    # The Orca page.
    def start_pipeline_on_orca_page(self, button_id):
        before = self.execution_ids()
        self.browser.get(self.orca + "/")
        self.browser.click(self.browser.wait_for("#" + button_id))
        new = wait_until(
            "a new execution on the fake Orca",
            lambda: self.execution_ids() - before,
            timeout=WAIT,
        )
        (execution_id,) = new
        self.browser.wait_for(f"section.execution[data-execution='{execution_id}']", timeout=WAIT)
        return execution_id

    def wait_for_execution_status(self, execution_id, status):
        css = f"section.execution[data-execution='{execution_id}'][data-status='{status}']"
        return self.browser.wait_for(css, f"execution {execution_id} {status} on the Orca page", timeout=WAIT)

    # The Slack page.
    def open_channel(self, name):
        self.browser.get(f"{self.slack}/channels/{name}")
        self.browser.wait_for("#messages")

    def message(self, execution_id=None, ts=None):
        return self.browser.execute(FIND_MESSAGE, execution_id, ts)

    def wait_for_judgment(self, execution_id):
        """The manual-judgment message of the execution, once its buttons are there."""
        return wait_until(
            f"the judgment message of {execution_id} with its buttons",
            lambda: (m := self.message(execution_id)) and REJECT in m["actions"] and m,
            timeout=WAIT,
        )

    def wait_for_message_about(self, execution_id, *needles):
        def probe():
            for text in self.browser.execute(MESSAGES_ABOUT, execution_id):
                if all(needle in text for needle in needles):
                    return text
            return None

        return wait_until(f"a message about {execution_id} saying {needles}", probe, timeout=WAIT)

    def choose_user(self, user_id):
        current = "return document.getElementById('user-picker').value"
        if self.browser.execute(current) == user_id:
            return  # clicking the open list again would leave it open on screenshots
        self.browser.click(self.browser.wait_for("#user-picker"))
        self.browser.click(self.browser.wait_for(f"#user-picker option[value='{user_id}']"))
        wait_until(
            f"the page to view as {user_id}",
            lambda: self.browser.execute(current) == user_id,
        )

    def button(self, ts, action):
        return self.browser.wait_for(
            f".msg[data-ts='{ts}'] button[data-action='{action}']", f"button {action} on message {ts}"
        )

    def focus_message(self, ts):
        element = self.browser.find(f".msg[data-ts='{ts}']")
        if element:
            self.browser.scroll_into_view(element)

    def dialog_open(self):
        return self.browser.execute("return document.getElementById('confirm-dialog').open")


def approve_in_slack(run):
    execution_id = run.start_pipeline_on_orca_page("start-plain")

    run.open_channel("deploys")
    run.wait_for_message_about(execution_id, "is starting")

    run.open_channel("deploy-approvals")
    judgment = run.wait_for_judgment(execution_id)
    ts = judgment["ts"]
    assert APPROVE in judgment["actions"], judgment
    assert "awaiting manual judgment" in judgment["text"], judgment["text"]
    run.choose_user(JANE)
    run.focus_message(ts)
    run.shot("slack-judgment")

    run.browser.click(run.button(ts, APPROVE))
    resolved = wait_until(
        "the judgment message to show jane's approval",
        lambda: (m := run.message(ts=ts)) and not m["actions"] and "Approved" in m["text"] and "@jane" in m["text"] and m,
        timeout=WAIT,
    )
    assert "continue" in resolved["text"], resolved["text"]
    assert run.browser.execute("return document.body.dataset.lastClick") == "200"
    run.focus_message(ts)
    run.shot("slack-approved")

    run.browser.get(run.orca + "/")
    run.wait_for_execution_status(execution_id, "SUCCEEDED")
    stages = run.browser.execute(
        "return [...document.querySelectorAll(arguments[0])].map((s) => s.dataset.status);",
        f"section.execution[data-execution='{execution_id}'] li.stage",
    )
    assert stages == ["SUCCEEDED", "SUCCEEDED", "SUCCEEDED"], stages
    run.shot("orca-succeeded")

    run.open_channel("deploys")
    run.wait_for_message_about(execution_id, "Pipeline complete", "completed successfully")
    run.shot("slack-deploys")


def reject_with_confirm(run):
    execution_id = run.start_pipeline_on_orca_page("start-plain")
    patches_before = len(run.api(run.orca + "/_sandbox/patches"))

    run.open_channel("deploy-approvals")
    ts = run.wait_for_judgment(execution_id)["ts"]
    run.choose_user(JANE)
    run.focus_message(ts)

    # Cancel: the dialog closes and nothing is sent.
    run.browser.click(run.button(ts, REJECT))
    wait_until("the confirm dialog", run.dialog_open)
    assert run.browser.text(run.browser.find("#confirm-title")) == "Reject?"
    assert run.browser.text(run.browser.find("#confirm-ok")) == "Reject"
    assert "will be judged to stop" in run.browser.text(run.browser.find("#confirm-text"))
    run.browser.click(run.browser.find("#confirm-deny"))
    wait_until("the dialog to close", lambda: not run.dialog_open())
    assert run.browser.execute("return document.body.dataset.lastClick || ''") == ""
    assert REJECT in run.message(ts=ts)["actions"], "still waiting after Cancel"

    # Confirm: the rejection goes through.
    run.browser.click(run.button(ts, REJECT))
    wait_until("the confirm dialog", run.dialog_open)
    run.shot("slack-reject-confirm")
    run.browser.click(run.browser.find("#confirm-ok"))
    wait_until(
        "the judgment message to show the rejection",
        lambda: (m := run.message(ts=ts)) and not m["actions"] and "Rejected" in m["text"] and "@jane" in m["text"],
        timeout=WAIT,
    )
    run.focus_message(ts)
    run.shot("slack-rejected")

    run.browser.get(run.orca + "/")
    run.wait_for_execution_status(execution_id, "TERMINAL")
    judgment_stage = run.browser.find(
        f"section.execution[data-execution='{execution_id}'] li.stage[data-type='manualJudgment'][data-status='TERMINAL']"
    )
    assert judgment_stage, "the judgment stage ended TERMINAL"
    run.shot("orca-terminal")
    patches = run.api(run.orca + "/_sandbox/patches")[patches_before:]
    stops = [p for p in patches if p["executionId"] == execution_id]
    assert [p["body"]["judgmentStatus"] for p in stops] == ["stop"], stops
    assert stops[0]["user"] == "jane@example.com", stops[0]


def judge_in_deck(run):
    execution_id = run.start_pipeline_on_orca_page("start-inputs")

    run.open_channel("deploy-approvals")
    judgment = run.wait_for_judgment(execution_id)
    ts = judgment["ts"]
    assert f"{APPROVE}.1" in judgment["actions"], judgment

    run.browser.get(run.orca + "/")
    section = f"section.execution[data-execution='{execution_id}']"
    run.browser.wait_for(f"{section} .judge")
    run.browser.click(run.browser.wait_for(f"{section} select[name='input']"))
    run.browser.click(run.browser.wait_for(f"{section} select[name='input'] option[value='ship']"))
    user_field = run.browser.wait_for(f"{section} input[name='user']")
    run.browser.clear(user_field)
    run.browser.type(user_field, "john@doe.com")
    run.browser.scroll_into_view(user_field)
    run.shot("orca-deck-judgment")
    run.browser.click(run.browser.find(f"{section} button[data-decision='continue']"))
    run.wait_for_execution_status(execution_id, "SUCCEEDED")
    patches = [p for p in run.api(run.orca + "/_sandbox/patches") if p["executionId"] == execution_id]
    assert [(p["viaDeck"], p["user"], p["body"].get("judgmentInput")) for p in patches] == [
        (True, "john@doe.com", "ship")
    ], patches

    run.open_channel("deploy-approvals")
    resolved = wait_until(
        "the Slack message to show the decision made in Deck",
        lambda: (m := run.message(ts=ts)) and not m["actions"] and "continue" in m["text"] and "john@doe.com" in m["text"] and m,
        timeout=WAIT,
    )
    assert "ship" in resolved["text"], resolved["text"]
    run.focus_message(ts)
    run.shot("slack-deck-decision")


def not_allowed_user(run):
    """With Fiat on, a user without the stage's role is told which role is needed before
    anything reaches Orca; a user with it then approves."""
    execution_id = run.start_pipeline_on_orca_page("start-plain")
    patches_before = len(run.api(run.orca + "/_sandbox/patches"))

    run.open_channel("deploy-approvals")
    ts = run.wait_for_judgment(execution_id)["ts"]
    run.choose_user(MALLORY)
    run.browser.click(run.button(ts, APPROVE))
    ephemeral = ".msg.ephemeral"
    answer = wait_until(
        "Reverb's ephemeral answer to mallory",
        lambda: run.browser.execute(
            "return [...document.querySelectorAll(arguments[0])].map((m) => m.innerText)"
            ".find((text) => text.includes('not recorded')) || null;",
            ephemeral,
        ),
        timeout=WAIT,
    )
    assert "Only visible to you" in answer, answer
    assert "release-managers" in answer, answer
    assert REJECT in run.message(ts=ts)["actions"], "the judgment still waits"
    assert len(run.api(run.orca + "/_sandbox/patches")) == patches_before, "nothing reached Orca"
    element = run.browser.find(ephemeral)
    if element:
        run.browser.scroll_into_view(element)
    run.shot("slack-not-allowed")

    run.choose_user(JANE)
    wait_until(
        "the ephemeral message to be hidden from jane",
        lambda: not run.browser.find_all(ephemeral),
    )
    run.browser.click(run.button(ts, APPROVE))
    wait_until(
        "the judgment message to show jane's approval",
        lambda: (m := run.message(ts=ts)) and not m["actions"] and "@jane" in m["text"] and m,
        timeout=WAIT,
    )
    run.browser.get(run.orca + "/")
    run.wait_for_execution_status(execution_id, "SUCCEEDED")


SCENARIOS = [approve_in_slack, reject_with_confirm, judge_in_deck, not_allowed_user]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slack", required=True, help="the fake Slack's base URL")
    parser.add_argument("--orca", required=True, help="the fake Orca's base URL")
    parser.add_argument("--run-dir", required=True, help="this run's screenshots and logs")
    parser.add_argument("--docs-dir", default="", help="also copy screenshots here (docs/img)")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--chromedriver", default=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    args = parser.parse_args()

    os.makedirs(args.run_dir, exist_ok=True)
    wanted = {name for name in args.only.split(",") if name}
    scenarios = [s for s in SCENARIOS if not wanted or s.__name__ in wanted]
    passed = failed = 0
    profile = tempfile.mkdtemp(prefix="reverb-browser-profile-")
    browser = None
    try:
        browser = Browser(args.chromedriver, args.chromium, profile, os.path.join(args.run_dir, "chromedriver.log"))
        run = Run(browser, args)
        for scenario in scenarios:
            started = time.monotonic()
            try:
                scenario(run)
            except Exception as err:  # one scenario's failure must not hide the others
                failed += 1
                print(f"FAIL {scenario.__name__} ({time.monotonic() - started:.1f}s): {err}", flush=True)
                traceback.print_exc()
                try:
                    run.browser.screenshot(os.path.join(args.run_dir, f"failure-{scenario.__name__}.png"))
                    print(f"  page: {run.browser.url()}", flush=True)
                    text = run.browser.execute("return document.body.innerText")
                    print("  page text: " + " | ".join(text.splitlines())[:2000], flush=True)
                    # Whether Reverb got Orca's events at all says which side to look at.
                    for delivery in run.api(run.orca + "/_sandbox/deliveries")[-6:]:
                        answer = delivery["status"] or delivery["error"]
                        print(f"  orca -> reverb: {delivery['label']}: {answer}", flush=True)
                except Exception as inner:  # the report must still come out
                    print(f"  (no failure screenshot: {inner})", flush=True)
            else:
                passed += 1
                print(f"PASS {scenario.__name__} ({time.monotonic() - started:.1f}s)", flush=True)
        print("screenshots: " + ", ".join(run.screenshots), flush=True)
    except Exception as err:
        failed = len(scenarios) - passed
        print(f"FAIL browser: {err}", flush=True)
        traceback.print_exc()
    finally:
        if browser:
            browser.quit()
        shutil.rmtree(profile, ignore_errors=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
