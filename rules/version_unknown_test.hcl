# version_unknown: the backup cannot compare the versions of the pair.
# node.version comes from the backup's check "product" (see
# testdata/backup.hcl). Each test runs version_mismatch too: a version
# that cannot be read is not a mismatch (issue 13, finding 3).
config = ["testdata/backup.hcl"]

test "this node's version cannot be read: version unknown, not a mismatch" {
  rules = ["version_mismatch", "version_unknown"]
  facts "0m" {
    check "product" {
      error = "open /etc/product/state.json: permission denied"
    }
    peer "partner" {
      version = "7.1"
    }
  }
  expect "10m" {}
  expect "11m" {
    fire    = ["version_unknown"]
    subject = { version_unknown = "appliance-b: the product version of this node is unknown" }
    text    = { version_unknown = "open /etc/product/state.json: permission denied" }
  }
  expect "3d" {}
}

test "the primary reports no version: version unknown, not a mismatch" {
  rules = ["version_mismatch", "version_unknown"]
  facts "0m" {
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
    peer "partner" {}
  }
  facts "2d" {
    peer "partner" {
      version = "7.1"
    }
  }
  expect "10m" {}
  expect "11m" {
    fire    = ["version_unknown"]
    subject = { version_unknown = "appliance-b: the product version of the primary is unknown" }
    text    = { version_unknown = "reports no version:\nset version in the library block of the primary." }
  }
  expect "2d" {
    resolve = ["version_unknown"]
  }
  expect "3d" {}
}
