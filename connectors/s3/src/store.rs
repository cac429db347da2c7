//! The bucket, through `object_store`'s S3 client (SigV4, retries with backoff, path-style for
//! custom endpoints). Every call names what it was doing in its error ([`S3Error::store`]).
//!
//! Invariants: a `put` is atomic for readers (an object is whole or absent); objects larger
//! than [`MULTIPART_OVER`] go up in parts, and an interrupted multipart upload leaves no object;
//! `put_if_absent` uses `If-None-Match: *`, so of two writers of one key exactly one wins.

use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig,
    WriteMultipart,
};

use crate::config::S3Endpoint;
use crate::error::S3Error;

/// Bodies above this go up as multipart uploads (parts of this size).
pub const MULTIPART_OVER: usize = 16 << 20;

#[derive(Debug, Clone)]
pub struct Bucket {
    store: std::sync::Arc<AmazonS3>,
    pub name: String,
}

impl Bucket {
    pub fn new(ep: &S3Endpoint, bucket: &str) -> Result<Self, S3Error> {
        // Transient failures are retried here for up to `retry_secs`, then surface as retriable
        // errors (the runtime restarts from the manifests with its own backoff).
        let timeout = std::time::Duration::from_secs(ep.connect_timeout_secs.max(1));
        let retry =
            RetryConfig { backoff: BackoffConfig::default(), max_retries: 4, retry_timeout: timeout * 3 };
        let options = ClientOptions::new().with_connect_timeout(timeout).with_timeout(timeout * 12);
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry)
            .with_client_options(options);
        let region = ep.region.clone().or_else(|| std::env::var("AWS_REGION").ok());
        b = b.with_region(region.unwrap_or_else(|| "us-east-1".into()));
        if let Some(url) = &ep.endpoint_url {
            b = b
                .with_endpoint(url.trim_end_matches('/'))
                .with_allow_http(url.starts_with("http://"))
                .with_virtual_hosted_style_request(ep.virtual_hosted_style.unwrap_or(false));
        } else if let Some(v) = ep.virtual_hosted_style {
            b = b.with_virtual_hosted_style_request(v);
        }
        if let Some(key) = &ep.access_key_id {
            b = b.with_access_key_id(key).with_secret_access_key(ep.secret_access_key.expose());
            if !ep.session_token.is_empty() {
                b = b.with_token(ep.session_token.expose());
            }
        }
        let store = b.build().map_err(|e| S3Error::fatal(format!("S3 client for bucket {bucket}: {e}")))?;
        Ok(Self { store: std::sync::Arc::new(store), name: bucket.to_owned() })
    }

    /// Write `body` at `key`, replacing what is there.
    pub async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), S3Error> {
        let path = Path::from(key);
        let context = || format!("writing s3://{}/{key}", self.name);
        if body.len() <= MULTIPART_OVER {
            self.store
                .put(&path, PutPayload::from(body))
                .await
                .map_err(|e| S3Error::store(&context(), &e))?;
            return Ok(());
        }
        let upload = self.store.put_multipart(&path).await.map_err(|e| S3Error::store(&context(), &e))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, MULTIPART_OVER);
        w.put(bytes::Bytes::from(body));
        w.finish().await.map_err(|e| S3Error::store(&context(), &e))?;
        Ok(())
    }

    /// Write `body` at `key` unless an object is there; `Ok(false)`: one was.
    pub async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<bool, S3Error> {
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&Path::from(key), PutPayload::from(body), opts).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Ok(false)
            }
            Err(e) => Err(S3Error::store(&format!("creating s3://{}/{key}", self.name), &e)),
        }
    }

    /// The object at `key`, `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, S3Error> {
        let context = format!("reading s3://{}/{key}", self.name);
        match self.store.get(&Path::from(key)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(|e| S3Error::store(&context, &e))?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(S3Error::store(&context, &e)),
        }
    }

    /// Every key under `prefix` (a directory: `a/b` lists `a/b/…`), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, S3Error> {
        let p = Path::from(prefix);
        let metas: Vec<_> = self
            .store
            .list(Some(&p))
            .try_collect()
            .await
            .map_err(|e| S3Error::store(&format!("listing s3://{}/{prefix}", self.name), &e))?;
        let mut keys: Vec<String> = metas.into_iter().map(|m| m.location.to_string()).collect();
        keys.sort();
        Ok(keys)
    }

    /// Delete `key`; deleting a missing key succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), S3Error> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(S3Error::store(&format!("deleting s3://{}/{key}", self.name), &e)),
        }
    }
}
