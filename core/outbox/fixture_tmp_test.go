package outbox

import (
	"strconv"

	bolt "go.etcd.io/bbolt"
)

func fileFormat(db *bolt.DB) (int, error) {
	var v int
	err := db.View(func(tx *bolt.Tx) error {
		var err error
		v, err = strconv.Atoi(string(tx.Bucket(metaBucket).Get(versionKey)))
		return err
	})
	return v, err
}
