"""Code generated from centrifugo/*.proto by `make proto`; do not edit."""
