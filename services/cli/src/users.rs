//! `lantern users add|remove|list`: who may use the query service.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use lantern_common::Config;
use lantern_query::access::Role;
use lantern_server::users::{Credentials, Scope, UsersFile, write_private};

#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Add a user with a new password (PostgreSQL) and token (HTTP), shown once.
    Add {
        name: String,
        /// analyst, partner, researcher, admin or reporter.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A table this user may read beyond their role (a researcher's extract). Repeatable.
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// A business reference a reporter may file business-crime reports for. Repeatable.
        #[arg(long = "business")]
        businesses: Vec<String>,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        /// Write the secrets to <DIR>/<name>.password and <DIR>/<name>.token (mode 0600)
        /// instead of printing them.
        #[arg(long)]
        credentials_dir: Option<PathBuf>,
    },
    /// Remove a user; their password and token stop working at once.
    Remove { name: String },
    /// List users and roles (never secrets).
    List,
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

pub fn run(config: &Config, command: UsersCommand) -> anyhow::Result<()> {
    let path = &config.query.users_file;
    let mut users = UsersFile::load(path)?;
    match command {
        UsersCommand::Add {
            name,
            role,
            grants,
            businesses,
            password_stdin,
            credentials_dir,
        } => {
            if !businesses.is_empty() && role != Role::Reporter {
                anyhow::bail!("--business is for the reporter role only");
            }
            let password = if password_stdin {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("reading the password from standard input")?;
                Some(text.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let scope = Scope {
                grants: grants.into_iter().collect(),
                businesses: businesses.into_iter().collect(),
            };
            let credentials = users.add(&name, role, scope, password)?;
            users.save()?;
            match credentials_dir {
                Some(dir) => write_credentials(&dir, &name, &credentials)?,
                None => {
                    println!("Added {name} ({role}) to {}.", path.display());
                    println!("These secrets are shown once and stored only as salted hashes:");
                    println!("  password (PostgreSQL): {}", credentials.password);
                    println!("  token (HTTP bearer):   {}", credentials.token);
                }
            }
        }
        UsersCommand::Remove { name } => {
            if !users.remove(&name) {
                anyhow::bail!("no user {name:?} in {}", path.display());
            }
            users.save()?;
            println!("Removed {name}.");
        }
        UsersCommand::List => {
            println!("{:<24} {:<11} grants / businesses", "name", "role");
            for user in users.users() {
                let scope: Vec<&str> = user
                    .grants
                    .iter()
                    .chain(&user.businesses)
                    .map(String::as_str)
                    .collect();
                println!("{:<24} {:<11} {}", user.name, user.role, scope.join(", "));
            }
        }
    }
    Ok(())
}

/// Writes a new user's secrets to files only its owner can read.
pub fn write_credentials(dir: &Path, name: &str, credentials: &Credentials) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (kind, secret) in [
        ("password", &credentials.password),
        ("token", &credentials.token),
    ] {
        let path = dir.join(format!("{name}.{kind}"));
        write_private(&path, secret.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        println!(
            "Wrote the {kind} of {name} to {} (mode 0600).",
            path.display()
        );
    }
    Ok(())
}
