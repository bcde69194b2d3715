//! The override examples of docs/templates.md load, pass validation and render as described.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use reverb_templates::{
    EventView, LayoutOptions, MessageContent, MessageStyle, TemplateEngine, TemplateOptions,
};
use serde_json::json;

fn load(dir: &std::path::Path, style: MessageStyle) -> TemplateEngine {
    TemplateEngine::load(TemplateOptions {
        override_dir: Some(dir.to_path_buf()),
        style,
    })
    .unwrap()
}

fn event() -> MessageContent {
    MessageContent::Event(EventView {
        kind: "pipeline".into(),
        status: "complete".into(),
        application: "myapp".into(),
        stage_name: None,
        execution: json!({"id": "1", "name": "deploy-prod", "description": null, "trigger": {"user": "jane@example.com"}}),
        link: "http://deck/#/applications/myapp/executions/details/1".into(),
        build: None,
        message_text: None,
        custom_message: None,
        notification: json!({}),
        context: json!(null),
    })
}

fn layout() -> LayoutOptions {
    LayoutOptions {
        color: "#769D3E".into(),
        ..LayoutOptions::default()
    }
}

#[test]
fn example_one_says_who_started_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pipeline.tera"),
        include_str!("examples/pipeline.tera"),
    )
    .unwrap();
    let engine = load(dir.path(), MessageStyle::Attachments);
    let message = engine.render(&event(), &layout());
    assert_eq!(
        message.attachments.unwrap()[0]["text"],
        "Myapp's <http://deck/#/applications/myapp/executions/details/1|deploy-prod> pipeline has completed successfully (started by jane@example.com)"
    );
}

#[test]
fn example_two_adds_a_header_block() {
    let dir = tempfile::tempdir().unwrap();
    let builtin = include_str!("../../../templates/layout.tera");
    let marker = "\"blocks\": [";
    assert_eq!(builtin.matches(marker).count(), 1);
    let layout_source = builtin.replacen(
        marker,
        &format!(
            "{marker}\n{}",
            include_str!("examples/header-block.tera").trim_end()
        ),
        1,
    );
    std::fs::write(dir.path().join("layout.tera"), layout_source).unwrap();
    let engine = load(dir.path(), MessageStyle::Blocks);
    let message = engine.render(&event(), &layout());
    let blocks = message.attachments.unwrap()[0]["blocks"]
        .as_array()
        .unwrap()
        .clone();
    let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["header", "section", "context"]);
    assert_eq!(blocks[0]["text"]["text"], "Pipeline complete for MYAPP");
}
