//! JavaScript policies: not in this build of weft (a placeholder).

use super::Job;

pub(super) async fn build(_job: &Job) -> anyhow::Result<()> {
    anyhow::bail!("JavaScript builds are not in this build of weft")
}
