//! Nothing a user pastes or reads can hurt them (issue 24): text from images and file
//! names reaches the terminal escaped, the printed `maas …` line is one a POSIX shell
//! reads back as exactly the arguments meant (checked with `sh -n` and by running it with
//! `printf` in place of `maas`), and the first-use slips get the right message.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::util::Dir;

/// The `maas …` line printed last on `stdout` (it may span lines where a name holds a
/// line break inside quotes), checked to show no control character but line breaks.
fn maas_line(stdout: &[u8]) -> String {
    let text = std::str::from_utf8(stdout).expect("the report is UTF-8");
    let at = text.find("upload to MAAS with:\n  ").expect("a maas line") + 23;
    let line = text[at..].trim_end_matches('\n').to_string();
    assert!(
        !line.chars().any(|c| c.is_control() && c != '\n'),
        "control characters reach the terminal: {line:?}"
    );
    line
}

/// The arguments `sh` gives `maas` for `line`, after `sh -n` found it well-formed.
fn argv(d: &Dir, line: &str) -> Vec<Vec<u8>> {
    let n = std::process::Command::new("sh")
        .args(["-n", "-c", line])
        .output()
        .unwrap();
    assert!(n.status.success(), "sh -n: {line:?}");
    let rest = line
        .strip_prefix("maas $PROFILE boot-resources create ")
        .expect("the maas command");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s\\0' {rest}"))
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{line:?}");
    out.stdout
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn tar_maas_line_and_report_are_safe_whatever_the_image_and_names_hold() {
    let d = Dir::new();
    d.sh(r#"mkdir -p src/etc
        printf 'NAME="Debian\033]0;owned\007 GNU/Linux"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME="book\033worm"\n' > src/etc/os-release
        python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind('src/s\x1b[31mred')"
        mkfs.ext4 -q -F -d src fs.img 16M"#);
    let out_name = OsStr::from_bytes(b"o\x1b[2J it's\n\xff.tar.gz");
    let o = crate::util::ddgz()
        .args([
            OsStr::new("tar"),
            OsStr::new("fs.img"),
            OsStr::new("-o"),
            out_name,
        ])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("socket ignored ./s\\e[31mred"),
        "the socket's name is not escaped:\n{text}"
    );
    let line = maas_line(&o.stdout);
    let abs = [d.path().as_os_str().as_bytes(), b"/", out_name.as_bytes()].concat();
    let want: Vec<Vec<u8>> = vec![
        b"name=custom/debian-12".to_vec(),
        b"title=Debian]0;owned GNU/Linux 12 Custom".to_vec(),
        b"architecture=amd64/generic".to_vec(),
        b"filetype=tgz".to_vec(),
        [&b"content@="[..], &abs].concat(),
    ];
    assert_eq!(argv(&d, &line), want, "{line}");
}

/// A 2 MiB raw disk (no partition table) to convert with `--no-validate`.
fn raw(d: &Dir) {
    d.sh("truncate -s 2M disk.raw");
}

#[test]
fn convert_maas_line_keeps_the_real_bytes_of_the_output_name() {
    let d = Dir::new();
    raw(&d);
    let out_name = OsStr::from_bytes(b"a\x07\xfe'b.dd.gz");
    let o = crate::util::ddgz()
        .args([
            OsStr::new("convert"),
            OsStr::new("disk.raw"),
            OsStr::new("--no-validate"),
            OsStr::new("--base-image"),
            OsStr::new("ubuntu/noble"),
            OsStr::new("--title"),
            OsStr::new("My $HOME `x`"),
            OsStr::new("-o"),
            out_name,
        ])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line = maas_line(&o.stdout);
    let abs = [d.path().as_os_str().as_bytes(), b"/", out_name.as_bytes()].concat();
    let got = argv(&d, &line);
    assert_eq!(got[1], b"title=My $HOME `x`", "{line}");
    assert_eq!(got[4], b"base_image=ubuntu/noble", "{line}");
    assert_eq!(got[5], [&b"content@="[..], &abs].concat(), "{line}");
    assert!(d.join(out_name).exists());
}

#[test]
fn names_titles_and_base_images_are_checked_once_for_every_path() {
    let d = Dir::new();
    raw(&d);
    d.sh("echo x | gzip > f.dd.gz");
    for args in [
        &[
            "convert",
            "disk.raw",
            "--no-validate",
            "--base-image",
            "garbage",
        ][..],
        &[
            "convert",
            "disk.raw",
            "--no-validate",
            "--base-image",
            "ubuntu/",
        ],
        &[
            "convert",
            "disk.raw",
            "--no-validate",
            "--title",
            "a\x1b[31mb",
        ],
        &[
            "convert",
            "disk.raw",
            "--no-validate",
            "--name",
            "custom/x\ny",
        ],
        &[
            "upload",
            "f.dd.gz",
            "--name",
            "custom/x",
            "--base-image",
            "garbage",
        ],
        &["tar", "disk.raw", "--base-image", "ubuntu/"],
    ] {
        let o = d.ddgz(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains('\x1b'), "{err:?}");
    }
    assert!(!d.join("disk.dd.gz").exists());
}

#[test]
fn first_use_slips_get_the_right_message() {
    let d = Dir::new();
    raw(&d);
    // qemu-img's habit: a second positional is the output.
    let o = d.ddgz(&["convert", "disk.raw", "b.dd.gz"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("-o b.dd.gz"), "{err}");
    // A directory as the output: never replaced, and said so without "use --force".
    d.sh("mkdir out.dd.gz");
    for force in [false, true] {
        let mut args = vec!["convert", "disk.raw", "--no-validate", "-o", "out.dd.gz"];
        if force {
            args.push("--force");
        }
        let o = d.ddgz(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(4), "{err}");
        assert!(err.contains("is a directory"), "{err}");
        assert!(!err.contains("use --force"), "{err}");
    }
    // The default output strips every extension ddgz reads.
    d.sh("cp disk.raw disk.vhdx");
    d.ddgz_ok(&[
        "convert",
        "disk.vhdx",
        "--no-validate",
        "--format",
        "raw",
        "-q",
    ]);
    assert!(d.join("disk.dd.gz").exists());
}

#[test]
fn convert_to_stdout_on_a_terminal_is_refused_as_gzip_does() {
    let d = Dir::new();
    raw(&d);
    let bin = env!("CARGO_BIN_EXE_ddgz");
    // `script` gives the command a terminal for stdout.
    let o = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{bin} convert disk.raw --no-validate -o -"),
            "/dev/null",
        ])
        .current_dir(d.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("stdout is a terminal"), "{out}");
    assert!(
        !out.contains('\u{fffd}'),
        "binary reached the terminal: {out:?}"
    );
}

#[test]
fn inspect_escapes_what_an_image_says() {
    let d = Dir::new();
    d.sh("truncate -s 1M flat.raw");
    std::fs::write(
        d.join("img.vmdk"),
        "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n\
         createType=\"monolithicFlat\x1b]0;owned\x07\"\n\n# Extent description\n\
         RW 2048 FLAT \"flat\x1b[2J.raw\" 0\n",
    )
    .unwrap();
    let o = d.ddgz(&["inspect", "img.vmdk"]);
    let all = [o.stdout, o.stderr].concat();
    assert!(
        !all.iter().any(|&b| b == 0x1b || b == 0x07),
        "{}",
        String::from_utf8_lossy(&all)
    );
    assert!(
        String::from_utf8_lossy(&all).contains("\\e"),
        "{}",
        String::from_utf8_lossy(&all)
    );
}
