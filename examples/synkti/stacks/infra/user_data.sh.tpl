#!/bin/sh
# First boot of a synkti worker: fetch the node agent and run it as a service.
set -eu
export AWS_DEFAULT_REGION=${region}
python3 -m pip install --quiet awscli
aws s3 cp s3://${bucket}/${binary} /opt/synkti/node.whl
python3 -m pip install --quiet /opt/synkti/node.whl
cat > /etc/systemd/system/synkti-node.service <<UNIT
[Unit]
Description=synkti node agent
After=network-online.target
[Service]
Environment=SYNKTI_MODEL=s3://${bucket}/${model}
ExecStart=/usr/local/bin/driftless agent
Restart=always
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now synkti-node.service
