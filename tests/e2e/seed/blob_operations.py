# blob_operations.py
from azure.storage.blob import BlobServiceClient, BlobClient, ContainerClient
from azure.storage.blob import BlobSasPermissions, generate_blob_sas
from datetime import datetime, timedelta
import os

class AzureBlobManager:
    def __init__(self, connection_string: str):
        self.blob_service = BlobServiceClient.from_connection_string(connection_string)

    def upload_file(self, container_name: str, local_path: str, blob_name: str):
        """Upload file to blob storage"""
        blob_client = self.blob_service.get_blob_client(
            container=container_name,
            blob=blob_name
        )

        with open(local_path, 'rb') as data:
            blob_client.upload_blob(data, overwrite=True)

        print(f"Uploaded {local_path} to {container_name}/{blob_name}")

    def download_file(self, container_name: str, blob_name: str, local_path: str):
        """Download file from blob storage"""
        blob_client = self.blob_service.get_blob_client(
            container=container_name,
            blob=blob_name
        )

        with open(local_path, 'wb') as f:
            download_stream = blob_client.download_blob()
            f.write(download_stream.readall())

        print(f"Downloaded {container_name}/{blob_name} to {local_path}")

    def list_blobs(self, container_name: str, prefix: str = ''):
        """List blobs in container"""
        container_client = self.blob_service.get_container_client(container_name)

        blobs = container_client.list_blobs(name_starts_with=prefix)

        for blob in blobs:
            size_mb = blob.size / (1024 * 1024)
            print(f"{blob.name}: {size_mb:.2f} MB (Modified: {blob.last_modified})")

    def generate_sas_url(self, container_name: str, blob_name: str, expiry_hours: int = 1):
        """Generate SAS URL for temporary access"""
        account_name = self.blob_service.account_name
        account_key = self.blob_service.credential.account_key

        sas_token = generate_blob_sas(
            account_name=account_name,
            container_name=container_name,
            blob_name=blob_name,
            account_key=account_key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.utcnow() + timedelta(hours=expiry_hours)
        )

        url = f"https://{account_name}.blob.core.windows.net/{container_name}/{blob_name}?{sas_token}"
        print(f"SAS URL (expires in {expiry_hours}h): {url}")
        return url

# Usage
if __name__ == '__main__':
    connection_string = os.environ.get('AZURE_STORAGE_CONNECTION_STRING')
    manager = AzureBlobManager(connection_string)

    # Upload dataset
    manager.upload_file('ml-data', 'data/train.csv', 'datasets/mnist/train.csv')

    # List models
    manager.list_blobs('ml-data', prefix='models/')

    # Generate SAS URL
    manager.generate_sas_url('ml-data', 'models/model.pth', expiry_hours=24)
