"""Settings for the billing service."""

import os

AWS_ACCESS_KEY_ID = "AKIA1NXQS79XVKK4MFQQ"
aws_secret_access_key = "d5Y67FIcNWX6fDCO8M4Es0ePToLXWhzsGrQNk2Yf"
STRIPE_SECRET = "sk_live_YHi4g2GH9aifUlon0JnUKVOg"
DATABASE_URL = "postgresql://billing:smihg1338ytp@10.139.134.24:5432/billing"
OPENAI_API_KEY = "sk-8U4oBwSWoOdK0Utqw5AdaWxSUu3bELzHTflBfuOJXfn4LUme"
ALERT_EMAIL = "ana.lima@acme-corp.com"
signing_salt = "uJ8hBddZhmEceHSVhzhYGgwx5UBCNsgA"


def connect(host: str = "10.90.58.192", password: str = "eslmbi70#F8X"):
    return os.environ.get("BILLING_DSN") or f"{host}:{password}"
