//! Reading Prometheus text (what `GET /metrics` answers).

/// The sum of the samples of `name` whose labels include every `key="value"` of `labels`;
/// `None` when no sample of `name` matches.
pub fn metric_sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric_name, label_part) = series.split_once('{').unwrap_or((series, ""));
        let wanted = metric_name == name
            && labels
                .iter()
                .all(|(k, v)| label_part.contains(&format!("{k}=\"{v}\"")));
        if let (true, Ok(value)) = (wanted, value.parse::<f64>()) {
            *found.get_or_insert(0.0) += value;
        }
    }
    found
}

/// Like [`metric_sample`], with 0 when there is no sample (as Prometheus treats a counter not
/// yet incremented).
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric_sample(text, name, labels).unwrap_or(0.0)
}
