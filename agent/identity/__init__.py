"""The device's identity: enrolment, the identity file, device TLS (mTLS), trusted signing keys, renewal."""
