//! No code: see this crate's Cargo.toml for why it exists.

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::process::Command;

    /// `name version -> features` of every package that `cargo tree <selection>` lists.
    fn features(selection: &[&str]) -> BTreeMap<String, String> {
        let out = Command::new(env!("CARGO"))
            .args([
                "tree",
                "--offline",
                "--locked",
                "--prefix",
                "none",
                "-f",
                "{p} [{f}]",
            ])
            .args(selection)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo tree");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|line| {
                let (package, rest) = line.split_once(" [")?;
                let package = package.split(" (").next()?.to_string();
                Some((package, rest.split(']').next()?.to_string()))
            })
            .collect()
    }

    #[test]
    fn tests_and_binary_build_every_dependency_with_the_same_features() {
        // What `cargo build --bin lantern` builds, and what `cargo nextest run --workspace` does.
        let binary = features(&["-p", "lantern-cli", "-e", "normal,build"]);
        let tests = features(&["--workspace", "-e", "normal,build,dev"]);
        let diverging: Vec<String> = binary
            .iter()
            .filter_map(|(package, f)| {
                let t = tests.get(package)?;
                (t != f).then(|| format!("{package}: binary [{f}] vs tests [{t}]"))
            })
            .collect();
        assert!(
            diverging.is_empty(),
            "add these features to services/workspace-hack/Cargo.toml:\n{}",
            diverging.join("\n")
        );
    }
}
