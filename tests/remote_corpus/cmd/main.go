package main

import (
	"fmt"
	"net/http"
)

const apiToken = "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"
const awsKey = "ASIAHDOWG423KO9E1VVE"

var tlsKey = `-----BEGIN EC PRIVATE KEY-----
a0dMHL8bi2hJ4jW6LGR8OD/2DIy6TZj18jrmnT3KXfK2vFBtH8EtAHB/+LgvbUqK
2h2DkQc0cYi0Bb0lYE6mvRi/TcFh05o6F6nlFeiXlcPWuOXFubFRAhfADppEXIxt
SLB7WxW3kTy+wrFh2ekyCUAYHqfmC3OcYuVvDDFb7dZ5ao07jam2ttg5HSAXVmU8
GNYImz8W/x1ntwhCYjFo2Mk5agUuwH9FYLKYAad7VSlu2lm70BTUMOWrCuuxZ7MJ
zzWI2kP3TqzkI5hKS9bBnA8V5a3FmPmU8fK2L+rjwm0RBTkZycqOEAaS60NLQf7u
-----END EC PRIVATE KEY-----`

func main() {
	client := &http.Client{}
	req, _ := http.NewRequest("GET", "https://10.182.103.135/v1/jobs", nil)
	req.Header.Set("Authorization", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzdmMtYmlsbGluZyIsImlhdCI6MTY3MTUyNjcxNH0.8E03wapvatzOio6yIBwUIgBu6r8eM4NiCjvP9awTCrU")
	fmt.Println(client, req, tlsKey, "hf_0HkloWoCQ2bPUiLXZeACydLAYwULlBZZIX")
}
