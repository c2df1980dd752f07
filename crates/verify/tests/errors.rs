//! Errors say their kind: a wrong request, a file that cannot be read, a corrupt stream.

use ddgz_verify::{verify, ErrorKind, Options};

#[test]
fn zero_free_without_a_source_is_a_wrong_request() {
    let mut opts = Options::default();
    opts.zero_free = true;
    let e = verify("x.dd.gz".as_ref(), &opts).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Usage, "{e}");
    assert!(e.to_string().contains("need --against"), "{e}");
}

#[test]
fn a_missing_file_or_a_directory_is_an_input_error() {
    let d = tempfile::tempdir().unwrap();
    let e = verify(&d.path().join("none.dd.gz"), &Options::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Input, "{e}");
    assert!(e.to_string().starts_with("cannot open"), "{e}");
    let e = verify(d.path(), &Options::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Input, "{e}");
    assert!(
        e.to_string().ends_with("is a directory, not a .dd.gz file"),
        "{e}"
    );
}

#[test]
fn a_file_that_is_not_gzip_fails_and_a_set_cancel_flag_cancels() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("x.dd.gz");
    std::fs::write(&p, b"not a gzip stream at all").unwrap();
    let e = verify(&p, &Options::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Failed, "{e}");
    let mut opts = Options::default();
    opts.cancel = Some(std::sync::Arc::new(true.into()));
    let e = verify(&p, &opts).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
}
