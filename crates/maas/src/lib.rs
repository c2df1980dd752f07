//! MAAS boot-resource upload client: OAuth 1.0 PLAINTEXT, chunked PUTs with fresh nonces
#![deny(missing_docs)]
