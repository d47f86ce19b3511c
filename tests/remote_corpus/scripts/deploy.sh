#!/bin/sh
set -eu
export SLACK_BOT_TOKEN="xoxp-196501954756-BUsUDJgZ36PiNecE9uIwAvVzQZ8RfpSH"
export MYSQL_PASSWORD='imxeca92!av5'
scp -i ~/.ssh/deploy build.tar.gz deploy@10.139.134.24:/srv/
echo "deployed by $USER, questions to security@vendor-mail.de"
