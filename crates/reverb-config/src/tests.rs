//! Tests that need the system config directory replaced.

use std::collections::BTreeMap;
use std::fs;

use crate::{LoadOptions, load_from};

#[test]
fn default_dirs_are_the_system_dir_then_home_dot_spinnaker() {
    let system = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    fs::create_dir(home.path().join(".spinnaker")).unwrap();
    fs::write(
        system.path().join("echo.yml"),
        "server.port: 1000\nserver.address: 127.0.0.1\n",
    )
    .unwrap();
    fs::write(
        home.path().join(".spinnaker/echo.yml"),
        "server.port: 2000\n",
    )
    .unwrap();
    let env = BTreeMap::from([("HOME".to_owned(), home.path().display().to_string())]);
    let opts = LoadOptions {
        config_dirs: Vec::new(),
        include_default_dirs: true,
        profiles: None,
        env,
    };

    let settings = load_from(&opts, system.path()).unwrap();
    assert_eq!(settings.server.port, 2000);
    assert_eq!(settings.server.address, "127.0.0.1");
    assert_eq!(
        settings.sources,
        vec![
            system.path().join("echo.yml"),
            home.path().join(".spinnaker/echo.yml")
        ]
    );

    let without_defaults = LoadOptions {
        include_default_dirs: false,
        ..opts
    };
    assert!(
        load_from(&without_defaults, system.path())
            .unwrap()
            .sources
            .is_empty()
    );
}

#[test]
fn missing_default_dirs_are_skipped_silently() {
    let parent = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([(
        "HOME".to_owned(),
        parent.path().join("no-home").display().to_string(),
    )]);
    let opts = LoadOptions {
        config_dirs: Vec::new(),
        include_default_dirs: true,
        profiles: None,
        env,
    };
    let settings = load_from(&opts, &parent.path().join("no-system")).unwrap();
    assert!(settings.sources.is_empty());
}
