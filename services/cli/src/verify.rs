//! `lantern verify DIR`: check a published vintage or an extract against its manifest.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// A vintage directory (<data_dir>/published/<release>/<vintage>) or an extract directory.
    dir: PathBuf,
    /// The manifest's SHA-256 as cited (e.g. in a report): it must match too.
    #[arg(long)]
    manifest_sha256: Option<String>,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let mut result = lantern_disclosure::verify::verify(&args.dir)?;
    if let Some(expected) = &args.manifest_sha256
        && !expected.eq_ignore_ascii_case(&result.manifest_sha256)
    {
        result.problems.push(format!(
            "manifest.json hashes to {}, not the cited {expected}",
            result.manifest_sha256
        ));
    }
    println!(
        "{}: manifest SHA-256 {}",
        args.dir.display(),
        result.manifest_sha256
    );
    for passed in &result.passed {
        println!("  ok      {passed}");
    }
    for problem in &result.problems {
        println!("  FAILED  {problem}");
    }
    if !result.ok() {
        anyhow::bail!(
            "{} problem(s) found in {}",
            result.problems.len(),
            args.dir.display()
        );
    }
    println!("Verified.");
    Ok(())
}
