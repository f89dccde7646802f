# settings_unsynced: the backup of testdata/backup_settings.hcl takes its
# settings from the primary and mails when it could not sync them for
# more than 12 hours (its settings_unsynced_after).
config = ["testdata/backup_settings.hcl"]
rules  = ["settings_unsynced"]

test "fires 12h after the last sync, repeats daily, resolves at the next sync" {
  facts "0m" {
    peer "partner" {
      settings_from      = true
      settings_synced_at = at("-1h")
    }
  }
  facts "2h" {
    peer "partner" {
      error              = "connection refused"
      settings_from      = true
      settings_synced_at = at("-1h")
      settings_error     = "fetch the settings of peer partner: connection refused; the last good copy stays in use"
    }
  }
  expect "10h" {}
  expect "11h1m" {
    fire    = ["settings_unsynced"]
    subject = { settings_unsynced = "appliance-b: transports and contacts not synced from the primary for more than 12h" }
    text    = { settings_unsynced = "error:     fetch the settings of peer partner: connection refused" }
  }
  expect "1d11h1m" {
    repeat = ["settings_unsynced"]
  }
  facts "1d12h" {
    peer "partner" {
      settings_from      = true
      settings_synced_at = at("1d12h")
    }
  }
  expect "1d12h1m" {
    resolve = ["settings_unsynced"]
  }
}

test "never synced counts from the agent's start" {
  facts "0m" {
    peer "partner" {
      error         = "connection refused"
      settings_from = true
    }
  }
  expect "11h59m" {}
  expect "12h1m" {
    fire = ["settings_unsynced"]
    text = { settings_unsynced = "last sync: never" }
  }
}

test "a recent sync is no problem" {
  facts "0m" {
    peer "partner" {
      settings_from      = true
      settings_synced_at = at("-1h")
    }
  }
  facts "6h" {
    peer "partner" {
      settings_from      = true
      settings_synced_at = at("6h")
    }
  }
  expect "16h" {}
}
