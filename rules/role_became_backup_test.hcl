# role_became_backup: the primary's role is read from the product
# (testdata/primary_observed.hcl); when the product hands the primary
# role to the partner, this node says it is the backup now.
config = ["testdata/primary_observed.hcl"]
rules  = ["role_became_primary", "role_became_backup"]

test "the partner took over: this node is the backup now, once" {
  facts "0m" {
    check "product" {
      json = { role = "primary" }
    }
    peer "partner" {
      role = "backup"
    }
  }
  facts "1h" {
    check "product" {
      json = { role = "backup" }
    }
    peer "partner" {
      role = "primary"
    }
  }
  expect "1h1m" {}
  expect "1h2m" {
    fire    = ["role_became_backup"]
    subject = { role_became_backup = "appliance-a: no longer the primary, the backup now" }
    text    = { role_became_backup = "appliance-a has been the backup since 2026-01-01T01:00:00Z; it was the primary.\n\nThe partner at http://192.0.2.2:9870 answers, as primary." }
  }
  expect "2d" {}
}

test "demoted while the partner does not answer: no primary at all" {
  facts "0m" {
    check "product" {
      json = { role = "primary" }
    }
    peer "partner" {
      role = "backup"
    }
  }
  facts "1h" {
    check "product" {
      json = { role = "backup" }
    }
    peer "partner" {
      error = "connection refused"
    }
  }
  expect "1h2m" {
    fire = ["role_became_backup"]
    text = { role_became_backup = "does not answer:\n\n  connection refused\n\nWith no primary, the service is down until one takes over." }
  }
}
