//! `pipelines/analytics/analytics.toml`: the parameters of every analytic, checked on load.

use lantern_pipelines::PipelineFiles;
use serde::{Deserialize, Serialize};

use crate::AnalyticsError;
use crate::hotspots::HotspotParams;
use crate::near_repeat::NearRepeatRun;
use crate::repeat::RepeatParams;

pub const CONFIG_FILE: &str = "analytics/analytics.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsConfig {
    pub change: ChangeConfig,
    pub repeat: RepeatParams,
    pub hotspots: HotspotParams,
    pub harm: HarmConfig,
    pub business: BusinessConfig,
    #[serde(default)]
    pub near_repeat: Vec<NearRepeatRun>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeConfig {
    pub alpha: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HarmConfig {
    pub offence_weights: String,
    pub crime_type_weights: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessConfig {
    pub window_days: i64,
}

impl AnalyticsConfig {
    pub fn load(files: &PipelineFiles) -> Result<Self, AnalyticsError> {
        let bytes = files
            .read(CONFIG_FILE)
            .map_err(|e| AnalyticsError::Config(e.to_string()))?;
        let text = String::from_utf8_lossy(&bytes);
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, AnalyticsError> {
        let config: AnalyticsConfig = toml::from_str(text)
            .map_err(|e| AnalyticsError::Config(format!("{CONFIG_FILE}: {e}")))?;
        config
            .check()
            .map_err(|e| AnalyticsError::Config(format!("{CONFIG_FILE}: {e}")))?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        let unit = |key: &str, v: f64| match v > 0.0 && v < 1.0 {
            true => Ok(()),
            false => Err(format!("{key} = {v} must be between 0 and 1")),
        };
        unit("change.alpha", self.change.alpha)?;
        unit("hotspots.fdr", self.hotspots.fdr)?;
        let positive = |key: &str, v: i64| match v > 0 {
            true => Ok(()),
            false => Err(format!("{key} = {v} must be positive")),
        };
        positive("repeat.window_days", self.repeat.window_days)?;
        positive("repeat.live_days", self.repeat.live_days)?;
        positive("business.window_days", self.business.window_days)?;
        positive(
            "hotspots.window_months",
            i64::from(self.hotspots.window_months),
        )?;
        positive("hotspots.top_n", self.hotspots.top_n as i64)?;
        if !(self.hotspots.gi_star_distance_m > 0.0 && self.hotspots.gi_star_distance_m <= 50_000.0)
        {
            return Err("hotspots.gi_star_distance_m must be in (0, 50000] metres".into());
        }
        if self.hotspots.gi_star_weights.is_empty() {
            return Err("hotspots.gi_star_weights must name at least one scheme".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for run in &self.near_repeat {
            run.check()?;
            if !names.insert(&run.name) {
                return Err(format!("near_repeat {:?} appears twice", run.name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_config_loads_and_bad_values_name_their_key() {
        let files = PipelineFiles::from_setting(None);
        let config = AnalyticsConfig::load(&files).unwrap();
        assert_eq!(config.near_repeat[0].permutations, 999);
        let text = String::from_utf8(files.read(CONFIG_FILE).unwrap().to_vec()).unwrap();
        let bad = text.replace("alpha = 0.05", "alpha = 5");
        let err = AnalyticsConfig::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("change.alpha"), "{err}");
        let bad = text.replace("time_band = 7", "time_band = 0");
        let err = AnalyticsConfig::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("time_band"), "{err}");
        let bad = text.replace("top_n = 20", "top_n = 20\nbogus = 1");
        assert!(
            AnalyticsConfig::parse(&bad)
                .unwrap_err()
                .to_string()
                .contains("bogus")
        );
    }
}
