//! `lantern key new FILE`: a new disclosure key, readable only by its owner.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::Context;

#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Write a new random key (256 bits, hex) to FILE, mode 0600. Refuses to overwrite: a new key
    /// changes every perturbed figure and pseudonym.
    New { file: PathBuf },
}

pub fn run(command: KeyCommand) -> anyhow::Result<()> {
    let KeyCommand::New { file } = command;
    let text = lantern_disclosure::SecretKey::generate_text()?;
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)
        .with_context(|| {
            format!(
                "creating {} (an existing key is never replaced)",
                file.display()
            )
        })?;
    writeln!(out, "{text}").with_context(|| format!("writing {}", file.display()))?;
    let key = lantern_disclosure::SecretKey::from_text(&text, "new key")?;
    println!(
        "Wrote a new disclosure key to {} (key id {}).",
        file.display(),
        key.id()
    );
    println!("Point disclosure.key_file at it, and keep a copy somewhere safe.");
    Ok(())
}
