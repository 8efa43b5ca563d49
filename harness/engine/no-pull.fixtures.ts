// Request bodies that would make dockerd itself reach another host, shared by the plugin's unit test and the test
// through the real dockerd (test/no-pull-engine.int.test.ts). 192.0.2.0/24 is TEST-NET-1: routed nowhere.

/** A log driver that ships every line of the container's output to a host. */
export const GELF_LOGS = { Type: 'gelf', Config: { 'gelf-address': 'udp://192.0.2.10:12201' } };

/** A container with a volume mount through the local driver with these options. */
export const volumeMountContainer = (Image: string, Options: Record<string, string>) => ({
  Image,
  HostConfig: {
    Mounts: [{ Type: 'volume', Target: '/d', VolumeOptions: { DriverConfig: { Name: 'local', Options } } }],
  },
});

/** A container whose volume mount makes the kernel mount an NFS export of another host. */
export const NFS_MOUNT_CONTAINER = volumeMountContainer('x', { type: 'nfs', o: 'addr=192.0.2.1', device: ':/x' });

/** A volume on the same NFS export. */
export const NFS_VOLUME = { Name: 'kmslab-nfs', DriverOpts: { type: 'nfs', o: 'addr=192.0.2.1,rw', device: ':/x' } };
