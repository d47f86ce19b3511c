import boto3

AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
GITHUB_TOKEN = "ghp_0123456789abcdefghijABCDEFGHIJ012345"
DATABASE_URL = "postgres://admin:hunter2secret@db.internal:5432/app"
password = "correct-horse-battery"
ADMIN = "alice@example.com"
SERVER = "10.20.30.40"
LOCAL = "127.0.0.1"
SIGNING = "q8Zr2LmN5vXw9TkP3sHd7YcB1fGj6Ue4"
client = boto3.client("s3", aws_access_key_id=AWS_ACCESS_KEY_ID)
again = "AKIAIOSFODNN7EXAMPLE"
