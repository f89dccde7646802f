# shared_ip_nic_down: on the primary, the interface of a shared IP is
# down. testdata/primary.hcl has two shared IPs on eth1: the checks
# shared_ip_0 and shared_ip_1.
config = ["testdata/primary.hcl"]
rules  = ["shared_ip_nic_down"]

test "fires after a minute, repeats every 4h, resolves" {
  facts "0m" {
    check "shared_ip_0" {
      address  = "192.0.2.10"
      name     = "eth1"
      assigned = true
      up       = false
      error    = "interface eth1 is down"
    }
    check "shared_ip_1" {
      address  = "192.0.2.11"
      name     = "eth1"
      assigned = true
      up       = false
      error    = "interface eth1 is down"
    }
  }
  facts "5h" {
    check "shared_ip_0" {
      up = true
    }
    check "shared_ip_1" {
      up = true
    }
  }
  expect "1m" {}
  expect "2m" {
    fire    = ["shared_ip_nic_down"]
    subject = { shared_ip_nic_down = "appliance-a: the interface of a shared IP is down" }
    text    = { shared_ip_nic_down = "  192.0.2.11 on eth1: interface eth1 is down\n" }
  }
  expect "4h1m" {}
  expect "4h2m" {
    repeat = ["shared_ip_nic_down"]
  }
  expect "5h" {
    resolve = ["shared_ip_nic_down"]
  }
}

test "an interface that is up is no problem" {
  facts "0m" {
    check "shared_ip_0" {
      up = true
    }
    check "shared_ip_1" {
      up = true
    }
  }
  expect "1h" {}
}

test "an address on no interface is not this rule's (shared_ip_not_assigned)" {
  facts "0m" {
    check "shared_ip_0" {
      up = true
    }
    check "shared_ip_1" {
      assigned = false
      error    = "192.0.2.11 is not assigned to any interface"
    }
  }
  expect "1h" {}
}

test "the backup holds no shared IP" {
  facts "0m" {
    node = { role = "backup" }
    check "shared_ip_0" {
      up    = false
      error = "interface eth1 is down"
    }
    check "shared_ip_1" {
      up    = false
      error = "interface eth1 is down"
    }
  }
  expect "1h" {}
}
