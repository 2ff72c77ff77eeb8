"""The seed's train.py: a small classifier on MNIST-shaped data (synthetic,
made by the submitter: nothing can be downloaded offline), trained with the arguments Azure ML
passes, saved to outputs/model.pt as Azure ML collects it."""
import argparse
import os

import torch
from torch import nn

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--learning-rate", type=float, default=0.01)
p.add_argument("--data", default=None, help="an .npz with x (N,1,28,28) and y (N,)")
a = p.parse_args()
print("node %s run %s" % (os.environ.get("AZUREML_NODE_ID"), os.environ.get("AZUREML_RUN_ID")))
print("epochs=%d batch_size=%d learning_rate=%g" % (a.epochs, a.batch_size, a.learning_rate))

torch.manual_seed(0)
if a.data:
    import numpy as np
    d = np.load(a.data)
    x, y = torch.from_numpy(d["x"]), torch.from_numpy(d["y"]).long()
    print("data %s: %d samples" % (os.path.basename(a.data), len(x)))
else:
    x = torch.randn(512, 1, 28, 28)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 32), nn.ReLU(), nn.Linear(32, 10))
opt = torch.optim.Adam(model.parameters(), lr=a.learning_rate)
loss_fn = nn.CrossEntropyLoss()
for epoch in range(1, a.epochs + 1):
    total = 0.0
    for i in range(0, len(x), a.batch_size):
        opt.zero_grad()
        loss = loss_fn(model(x[i:i + a.batch_size]), y[i:i + a.batch_size])
        loss.backward()
        opt.step()
        total += loss.item()
    print("epoch %d/%d loss %.4f" % (epoch, a.epochs, total))
acc = (model(x).argmax(1) == y).float().mean().item()
print("accuracy %.3f" % acc)
os.makedirs("outputs", exist_ok=True)
torch.save(model, "outputs/model.pt")
print("saved outputs/model.pt")
