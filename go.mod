module github.com/mightycall-token-refresher/mightycall-token-refresher

go 1.26
