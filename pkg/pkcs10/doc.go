// Package pkcs10 reads PKCS#10 certificate requests.
package pkcs10
