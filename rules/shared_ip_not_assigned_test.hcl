# shared_ip_not_assigned: on the primary, a shared IP is not among the
# node's addresses. testdata/primary.hcl has two shared IPs: the checks
# shared_ip_0 and shared_ip_1.
config = ["testdata/primary.hcl"]
rules  = ["shared_ip_not_assigned"]

test "fires after a minute, repeats every 4h, resolves" {
  facts "0m" {
    check "shared_ip_0" {
      address  = "192.0.2.10"
      assigned = true
      up       = true
    }
    check "shared_ip_1" {
      address  = "192.0.2.11"
      assigned = false
      error    = "192.0.2.11 is not assigned to eth1"
    }
  }
  facts "6h" {
    check "shared_ip_1" {
      address  = "192.0.2.11"
      assigned = true
      up       = true
    }
  }
  expect "1m" {}
  expect "2m" {
    fire    = ["shared_ip_not_assigned"]
    subject = { shared_ip_not_assigned = "appliance-a: a shared IP is not assigned to this primary" }
    text    = { shared_ip_not_assigned = "  192.0.2.11: 192.0.2.11 is not assigned to eth1\n" }
  }
  expect "4h2m" {
    repeat = ["shared_ip_not_assigned"]
  }
  expect "6h" {
    resolve = ["shared_ip_not_assigned"]
  }
}

test "on the backup a shared IP is not assigned, by design" {
  facts "0m" {
    node = { role = "backup" }
    check "shared_ip_0" {
      assigned = false
      error    = "192.0.2.10 is not assigned to eth1"
    }
    check "shared_ip_1" {
      assigned = false
      error    = "192.0.2.11 is not assigned to eth1"
    }
  }
  expect "1h" {}
}

# Issue 13, finding 6: a primary that becomes the backup has its shared
# IPs taken away by design; the alert ends without claiming a fix.
test "a role change to backup ends the alert without a Resolved mail" {
  facts "0m" {
    check "shared_ip_0" {
      address  = "192.0.2.10"
      assigned = true
    }
    check "shared_ip_1" {
      address  = "192.0.2.11"
      assigned = false
      error    = "192.0.2.11 is not assigned to eth1"
    }
  }
  facts "1h" {
    node = { role = "backup" }
  }
  expect "2m" {
    fire = ["shared_ip_not_assigned"]
  }
  expect "1h" {
    resolve = ["shared_ip_not_assigned"]
    silent  = ["shared_ip_not_assigned"]
  }
}
