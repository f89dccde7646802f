package sdk_test

import (
	"bytes"
	"encoding/base64"
	"io"
)

func base64Reader(b []byte) io.Reader {
	return base64.NewDecoder(base64.StdEncoding, bytes.NewReader(b))
}
