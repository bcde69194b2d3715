//! Which directories and files are read, in precedence order (later wins), and reading them
//! into one merged property store.

use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::options::LoadOptions;
use crate::profiles::active_profiles_from_env;
use crate::properties::PropertyStore;
use crate::yaml::active_documents;

/// Where Halyard and the operator render every service's config.
pub(crate) const SYSTEM_CONFIG_DIR: &str = "/opt/spinnaker/config";
/// Names in `spring.config.name` order: Echo reads `spinnaker` then `echo`.
const CONFIG_NAMES: [&str; 2] = ["spinnaker", "echo"];
/// Both YAML extensions; for the same name `.yaml` is read after (so over) `.yml`.
const EXTENSIONS: [&str; 2] = ["yml", "yaml"];

/// The merged properties and what went into them.
pub(crate) struct LoadedProperties {
    pub store: PropertyStore,
    pub profiles: Vec<String>,
    pub sources: Vec<PathBuf>,
}

struct ConfigDir {
    path: PathBuf,
    /// Given on the command line: its absence is an error, not a skip.
    required: bool,
}

/// Reads every config file for `opts`; `system_dir` stands for `/opt/spinnaker/config`.
pub(crate) fn load_properties(
    opts: &LoadOptions,
    system_dir: &Path,
) -> Result<LoadedProperties, ConfigError> {
    let profiles = opts
        .profiles
        .clone()
        .unwrap_or_else(|| active_profiles_from_env(&opts.env));
    let mut store = PropertyStore::default();
    let mut sources = Vec::new();
    for dir in directories(opts, system_dir) {
        if !dir.path.is_dir() {
            if dir.required {
                return Err(ConfigError::MissingConfigDir { path: dir.path });
            }
            tracing::debug!(dir = %dir.path.display(), "config directory absent, skipped");
            continue;
        }
        for path in candidate_files(&dir.path, &profiles) {
            if !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            for document in active_documents(&path, &text, &profiles)? {
                store.overlay(document);
            }
            tracing::debug!(file = %path.display(), "config file read");
            sources.push(path);
        }
    }
    Ok(LoadedProperties {
        store,
        profiles,
        sources,
    })
}

fn directories(opts: &LoadOptions, system_dir: &Path) -> Vec<ConfigDir> {
    let mut dirs = Vec::new();
    if opts.include_default_dirs {
        dirs.push(ConfigDir {
            path: system_dir.to_path_buf(),
            required: false,
        });
        if let Some(home) = opts.env.get("HOME").filter(|home| !home.is_empty()) {
            dirs.push(ConfigDir {
                path: Path::new(home).join(".spinnaker"),
                required: false,
            });
        }
    }
    dirs.extend(opts.config_dirs.iter().map(|path| ConfigDir {
        path: path.clone(),
        required: true,
    }));
    if let Some(dir) = opts
        .env
        .get("REVERB_CONFIG_DIR")
        .filter(|dir| !dir.trim().is_empty())
    {
        dirs.push(ConfigDir {
            path: PathBuf::from(dir),
            required: false,
        });
    }
    dirs
}

/// `spinnaker.yml`, `echo.yml`, then per profile `spinnaker-<p>.yml`, `echo-<p>.yml`.
fn candidate_files(dir: &Path, profiles: &[String]) -> Vec<PathBuf> {
    let plain = CONFIG_NAMES.iter().map(|name| (*name).to_owned());
    let per_profile = profiles.iter().flat_map(|profile| {
        CONFIG_NAMES
            .iter()
            .map(move |name| format!("{name}-{profile}"))
    });
    plain
        .chain(per_profile)
        .flat_map(|stem| {
            EXTENSIONS
                .iter()
                .map(move |extension| dir.join(format!("{stem}.{extension}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn files_follow_spring_config_name_then_profile_order() {
        let names: Vec<String> = candidate_files(Path::new("d"), &["a".to_owned(), "b".to_owned()])
            .into_iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".yml"))
            .collect();
        assert_eq!(
            names,
            vec![
                "spinnaker.yml",
                "echo.yml",
                "spinnaker-a.yml",
                "echo-a.yml",
                "spinnaker-b.yml",
                "echo-b.yml"
            ]
        );
    }

    #[test]
    fn directories_run_system_home_cli_then_reverb_config_dir() {
        let env = BTreeMap::from([
            ("HOME".to_owned(), "/home/u".to_owned()),
            ("REVERB_CONFIG_DIR".to_owned(), "/env/dir".to_owned()),
        ]);
        let opts = LoadOptions {
            config_dirs: vec![PathBuf::from("/cli/one"), PathBuf::from("/cli/two")],
            include_default_dirs: true,
            profiles: None,
            env,
        };
        let dirs: Vec<_> = directories(&opts, Path::new("/sys"))
            .into_iter()
            .map(|d| (d.path, d.required))
            .collect();
        assert_eq!(
            dirs,
            vec![
                (PathBuf::from("/sys"), false),
                (PathBuf::from("/home/u/.spinnaker"), false),
                (PathBuf::from("/cli/one"), true),
                (PathBuf::from("/cli/two"), true),
                (PathBuf::from("/env/dir"), false),
            ]
        );
    }
}
